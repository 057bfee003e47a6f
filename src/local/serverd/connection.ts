/**
 * One client connection: read the framed request, answer the trust probe, queue the compile, stream
 * the response zip back, clean up, and log each step in stap-serverd's words.
 */
import type { TLSSocket } from 'node:tls';
import { rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Logger } from './log.js';
import type { WorkQueue } from './queue.js';
import { readRequestFrame } from './framing.js';
import { errorResponse, processRequest, type ProcessContext, type RequestOutcome } from './process.js';
import { zipResponse } from './response.js';

export interface ConnectionContext {
  log: Logger;
  queue: WorkQueue;
  process: ProcessContext;
  maxCompressedRequest: number;
  requestTimeoutMs: number;
  keepTemp: boolean;
  onRequestDone(): void;
}

export function peerName(socket: TLSSocket): string {
  const addr = socket.remoteAddress ?? 'unknown';
  return `${addr.includes(':') ? `[${addr}]` : addr}:${socket.remotePort ?? 0}`;
}

async function sendResponse(socket: TLSSocket, responseDir: string): Promise<void> {
  await pipeline(zipResponse(responseDir), socket);
}

function cleanup(tmpDir: string, ctx: ConnectionContext): void {
  if (ctx.keepTemp) ctx.log.log(`Keeping temporary directory ${tmpDir}`);
  else rmSync(tmpDir, { recursive: true, force: true });
}

export async function handleConnection(socket: TLSSocket, ctx: ConnectionContext): Promise<void> {
  const started = performance.now();
  const peer = peerName(socket);
  const log = ctx.log.log.bind(ctx.log);
  socket.on('error', () => undefined); // a client that goes away is logged below, never fatal
  log(`Accepted connection from ${peer}`);
  const frame = await readRequestFrame(socket, { maxCompressed: ctx.maxCompressedRequest, timeoutMs: ctx.requestTimeoutMs });
  const ms = (): string => `${Math.round(performance.now() - started)} ms`;

  switch (frame.kind) {
    case 'probe':
      socket.end();
      log(`Request from ${peer} complete (certificate only, ${ms()})`);
      return;
    case 'no-length':
      log('Error reading size of request file');
      break;
    case 'negative':
      log('Invalid request size: negative value');
      break;
    case 'truncated':
      log(`Expected ${frame.expected} bytes, got ${frame.received} while reading client request from socket`);
      break;
    case 'timeout':
      log(`No complete request from ${peer} within ${Math.round(ctx.requestTimeoutMs / 1000)} s (got ${frame.received} bytes); dropping the connection`);
      break;
    case 'too-large': {
      log('Error size of (compressed) request file is too large');
      // stap-serverd drops the connection silently here; the client then only says it cannot unzip.
      const { tmpDir, responseDir } = errorResponse(
        ctx.process.tmpParent,
        `The request of ${frame.length} bytes is larger than this server accepts (--max-compressed-request ${ctx.maxCompressedRequest} bytes).`,
      );
      try {
        await sendResponse(socket, responseDir);
      } catch (err) {
        log(`Error writing response to socket: ${(err as Error).message}`);
      }
      cleanup(tmpDir, ctx);
      log(`Request from ${peer} complete (rc 1, refused, ${ms()})`);
      return;
    }
    case 'request': {
      let outcome: RequestOutcome | undefined;
      try {
        outcome = await ctx.queue.run((signal) => processRequest(frame.zip, ctx.process, signal));
        await sendResponse(socket, outcome.responseDir);
      } catch (err) {
        log(`Error processing client request: ${(err as Error).message}`);
        socket.destroy();
      } finally {
        if (outcome) cleanup(outcome.tmpDir, ctx);
      }
      const result = outcome
        ? `rc ${outcome.exitCode}${outcome.signed.length ? `, signed ${outcome.signed.join(' ')}` : ''}` +
          (outcome.cached ? ', cached' : '') +
          (outcome.stapMs !== undefined ? `, stap ${Math.round(outcome.stapMs)} ms` : '')
        : 'failed';
      log(`Request from ${peer} complete (${result}, ${ms()})`);
      ctx.onRequestDone();
      return;
    }
  }
  socket.destroy();
  log(`Error processing client request from ${peer} (${ms()})`);
}
