/**
 * The request frame on the wire: a 4-byte big-endian signed length, then that many bytes of zip.
 * Length 0 is the client's trust probe. Reading is bounded in size (--max-compressed-request) and in
 * time (a client that stalls is dropped); an oversize body is drained without being stored, so that
 * the client, which writes its whole request before it reads, gets our error response.
 */
import type { Duplex } from 'node:stream';

export type FrameResult =
  | { kind: 'probe' }
  | { kind: 'request'; zip: Buffer }
  | { kind: 'too-large'; length: number }
  | { kind: 'negative'; length: number }
  | { kind: 'truncated'; expected: number; received: number }
  | { kind: 'no-length' }
  | { kind: 'timeout'; received: number };

export interface FrameLimits {
  maxCompressed: number;
  timeoutMs: number;
}

export function readRequestFrame(socket: Duplex, limits: FrameLimits): Promise<FrameResult> {
  return new Promise((resolve) => {
    let header = Buffer.alloc(0);
    let expected = -1;
    let oversize = false;
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;

    const finish = (result: FrameResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      socket.pause();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', received }), limits.timeoutMs);

    const onBody = (chunk: Buffer): void => {
      const take = Math.min(chunk.length, expected - received);
      if (!oversize) chunks.push(take === chunk.length ? chunk : chunk.subarray(0, take));
      received += take;
      if (received >= expected) {
        finish(oversize ? { kind: 'too-large', length: expected } : { kind: 'request', zip: Buffer.concat(chunks, received) });
      }
    };

    const onData = (chunk: Buffer): void => {
      if (expected >= 0) return onBody(chunk);
      header = Buffer.concat([header, chunk]);
      if (header.length < 4) return;
      const length = header.readInt32BE(0);
      const rest = header.subarray(4);
      if (length === 0) return finish({ kind: 'probe' });
      if (length < 0) return finish({ kind: 'negative', length });
      expected = length;
      oversize = length > limits.maxCompressed;
      if (rest.length > 0) onBody(rest);
    };
    const onEnd = (): void => {
      if (expected < 0) finish({ kind: 'no-length' });
      else finish({ kind: 'truncated', expected, received });
    };

    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
    socket.resume();
  });
}
