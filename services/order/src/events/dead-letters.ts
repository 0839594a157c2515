/**
 * Reading the shared dead-letter stream (MERCATO_DLQ) for the operations console: the messages every
 * consumer gave up on, with the `Mercato-Dlq-*` headers the consumer kit wrote.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  DEAD_LETTER_PREFIX,
  DLQ_HEADERS,
  deadLetterStream,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
} from "@mercato/platform/events";
import type { DeadLetter } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import type { JetStreamClient, StoredMsg } from "nats";

/** Stream sequences looked at per call at most (deleted or other consumers' messages are skipped). */
const scanLimit = 5_000;

/** One page of dead letters, oldest first, from stream sequence `from` on. */
export async function readDeadLetters(
  js: JetStreamClient,
  query: { readonly consumer: string; readonly from: number; readonly limit: number },
): Promise<{ deadLetters: Omit<DeadLetter, "$typeName">[]; next: number | undefined }> {
  const jsm = await js.jetstreamManager();
  const { state } = await jsm.streams.info(deadLetterStream.name);
  const subject = query.consumer === "" ? undefined : `${DEAD_LETTER_PREFIX}.${query.consumer}`;
  const deadLetters: Omit<DeadLetter, "$typeName">[] = [];
  let seq = Math.max(query.from, state.first_seq);
  const stop = Math.min(state.last_seq, seq + scanLimit - 1);
  for (; seq <= stop && deadLetters.length < query.limit; seq++) {
    let message: StoredMsg;
    try {
      message = await jsm.streams.getMessage(deadLetterStream.name, { seq });
    } catch {
      continue; // removed by the stream's age limit, or purged
    }
    if (subject !== undefined && message.subject !== subject) continue;
    const header = (name: string) => message.header.get(name) ?? "";
    deadLetters.push({
      sequence: BigInt(message.seq),
      consumer: header(DLQ_HEADERS.consumer) || message.subject.slice(DEAD_LETTER_PREFIX.length + 1),
      subject: header(DLQ_HEADERS.subject),
      stream: header(DLQ_HEADERS.stream),
      streamSequence: BigInt(header(DLQ_HEADERS.sequence) || "0"),
      deliveries: Number(header(DLQ_HEADERS.deliveries) || "0"),
      error: header(DLQ_HEADERS.error),
      eventType: header(EVENT_TYPE_HEADER),
      eventId: header(EVENT_ID_HEADER),
      deadAt: timestampFromDate(message.time),
    });
  }
  return { deadLetters, next: seq <= state.last_seq ? seq : undefined };
}
