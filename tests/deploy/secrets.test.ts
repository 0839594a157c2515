/**
 * The chart's side of issue 19: identity's KEK comes from a Secret in every profile (the one
 * production names, or one kind generates once and keeps), never a literal; webhooks stay https-only
 * and public-only (the permissive switches are never set); the edge hears identity's access events.
 */
import { describe, expect, it } from "vitest";
import { find, type K8sObject, objectName, podSpec, profiles, render, runHelm } from "./support.js";

/** A container's env entry by name. */
// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
function envOf(objects: readonly K8sObject[], component: string, name: string): any {
  const [container] = podSpec(find(objects, "Deployment", objectName(component))!).containers;
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
  return (container.env as any[]).find((entry) => entry.name === name);
}

describe.each(profiles)("$name", (profile) => {
  const objects = render(profile);
  const production = profile.valuesFile === "values-prod.yaml";
  const secretName = production ? "mercato-identity-kek" : `${objectName("identity")}-kek`;

  it("gives identity its KEK (and the previous ones, optional) from a Secret, never a literal", () => {
    const kek = envOf(objects, "identity", "IDENTITY_KEK");
    expect(kek).toEqual({
      name: "IDENTITY_KEK",
      valueFrom: { secretKeyRef: { name: secretName, key: "kek" } },
    });
    expect(envOf(objects, "identity", "IDENTITY_PREVIOUS_KEKS")).toEqual({
      name: "IDENTITY_PREVIOUS_KEKS",
      valueFrom: { secretKeyRef: { name: secretName, key: "previous", optional: true } },
    });
    // No other component gets it, and the migration Job (MIGRATE_ONLY) needs none.
    for (const other of ["gateway", "order", "notification"]) {
      expect(envOf(objects, other, "IDENTITY_KEK"), other).toBeUndefined();
    }
    const generated = find(objects, "Secret", secretName);
    if (production) {
      expect(generated).toBeUndefined();
    } else {
      expect(generated?.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
      const value = Buffer.from(generated!.data.kek, "base64").toString();
      const [id, key] = value.split(":");
      expect(id).toMatch(/^chart-[a-z0-9]{6}$/);
      expect(Buffer.from(key!, "base64")).toHaveLength(32);
    }
  });

  it("keeps webhooks to public https destinations (no permissive switch anywhere)", () => {
    const configMap = find(objects, "ConfigMap", objectName("config"))!;
    for (const name of ["WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_PRIVATE"]) {
      expect(envOf(objects, "notification", name), name).toBeUndefined();
      expect(configMap.data[name], name).toBeUndefined();
    }
  });

  it("lets the edge hear identity's access events", () => {
    expect(envOf(objects, "gateway", "NATS_URL")).toBeDefined();
  });
});

it("refuses to render without a KEK Secret or generate=true", () => {
  expect(() =>
    runHelm([
      "template",
      "mercato",
      "charts/mercato",
      "--set",
      "nats.external.existingSecret=n",
      "--set",
      "signingKeyKek.existingSecret=",
    ]),
  ).toThrow(/signingKeyKek.existingSecret is required/);
});
