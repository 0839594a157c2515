/**
 * Ending a connection or a stream without losing the answer sent just before. When an HTTP/1.1 server
 * closes its socket while the client is still sending (the rest of a refused upload, or of headers the
 * parser gave up on), the client's TCP stack receives a reset that can erase the answer before the
 * client has read it (RFC 9112 §9.6): a refused 40 MB upload then looks like a network failure
 * (`fetch failed: EPIPE`) instead of a 413. So the edge closes in stages — its answer, then a FIN,
 * then it keeps reading and dropping what still arrives until the client closes or a bounded linger
 * is over. On HTTP/2 a refused request costs only its stream: the answer, then RST_STREAM(NO_ERROR),
 * which asks the client to stop sending without an error (RFC 9113 §8.1).
 */
import type { ServerResponse } from "node:http";
import { type Http2ServerResponse, constants as http2Constants } from "node:http2";
import type { Socket } from "node:net";

const kClosing = Symbol("mercato.gateway.closingInStages");
const drop = () => {};

/**
 * Closes an HTTP/1.1 connection in stages once what was written to it is out: FIN, then whatever the
 * client still sends is read and dropped (never parsed) until the client closes, or until `lingerMs`
 * has passed, when the socket is destroyed.
 */
export function closeInStages(socket: Socket, lingerMs: number): void {
  const closing = socket as Socket & { [kClosing]?: true };
  if (closing[kClosing] || socket.destroyed) return;
  closing[kClosing] = true;
  for (const listener of socket.listeners("data")) socket.off("data", listener as (chunk: Buffer) => void);
  // Node's HTTP server hands the socket back to JavaScript (stops its native parser) when a `data`
  // listener is added: from here on every byte reaches `drop`.
  socket.on("data", drop);
  socket.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

/**
 * Prepares `res` for an answer after which the request is not read further (a body over the limit or
 * too slow). HTTP/1.1: the answer says `connection: close` and the connection is closed in stages once
 * it is out. HTTP/2: the stream is reset with NO_ERROR once the answer is out; the session goes on.
 * Call before the answer is written.
 */
export function endAfterAnswer(res: ServerResponse | Http2ServerResponse, lingerMs: number): void {
  if ("stream" in res) {
    const stream = res.stream;
    const close = () => {
      if (!stream.destroyed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
    };
    if (stream.writableFinished) close();
    else stream.once("finish", close);
    return;
  }
  const socket = res.socket;
  if (socket === null || res.headersSent) return;
  res.setHeader("connection", "close");
  // Node's HTTP server ends a `connection: close` exchange with socket.destroySoon(): a FIN and, as
  // soon as it is out, a full close — the reset described above. This connection closes in stages.
  socket.destroySoon = () => closeInStages(socket, lingerMs);
}
