/**
 * Runs Pact's provider verification and, when it fails, throws an error that says which interaction
 * broke and how (the verifier's own result, reduced to the mismatches), instead of a JSON blob.
 */
import { Verifier, type VerifierOptions } from "@pact-foundation/pact";

interface MismatchDetail {
  readonly description?: string;
  readonly mismatch?: string;
  readonly path?: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly type?: string;
}

interface VerificationError {
  readonly interaction?: string;
  readonly mismatch?: {
    readonly type?: string;
    readonly message?: string;
    readonly mismatches?: readonly MismatchDetail[];
  };
}

/** The verifier's JSON result as lines a person reads: one per failed interaction and mismatch. */
export function describeFailure(result: string): string {
  let parsed: { errors?: readonly VerificationError[] };
  try {
    parsed = JSON.parse(result) as { errors?: readonly VerificationError[] };
  } catch {
    return result;
  }
  const lines: string[] = [];
  for (const error of parsed.errors ?? []) {
    lines.push(`interaction "${error.interaction ?? "?"}" failed:`);
    const details = error.mismatch?.mismatches ?? [];
    if (details.length === 0) lines.push(`  ${error.mismatch?.message ?? error.mismatch?.type ?? "unknown"}`);
    for (const detail of details) {
      lines.push(
        `  ${detail.path ? `${detail.path}: ` : ""}${detail.mismatch ?? detail.description ?? detail.type}`,
      );
    }
  }
  return lines.length > 0 ? lines.join("\n") : result;
}

/** Verifies the provider; rejects with {@link describeFailure}'s text when any interaction fails. */
export async function verify(options: VerifierOptions): Promise<void> {
  try {
    // The timeout covers each request and each provider state: a state may wait up to 60 s for a saga
    // and a shipment on a loaded machine, far past the verifier's default of 5 s.
    await new Verifier({ logLevel: "warn", timeout: 120_000, ...options }).verifyProvider();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The readable summary only: the verifier's whole JSON result (the cause) buries it.
    throw new Error(`Pact verification of ${options.provider ?? "the provider"} failed:
${describeFailure(message)}`);
  }
}
