/** One client connection: read the framed request, answer the trust probe, hand requests to the queue. */
import type { TLSSocket } from 'node:tls';
import type { ServerdOptions } from './options.js';
import type { Logger } from './log.js';
import type { WorkQueue } from './queue.js';

export interface ConnectionContext {
  opts: ServerdOptions;
  log: Logger;
  queue: WorkQueue;
  serverHome?: string;
  onRequestDone(): void;
  isStopping(): boolean;
}

export function peerName(socket: TLSSocket): string {
  return `[${socket.remoteAddress ?? 'unknown'}]:${socket.remotePort ?? 0}`;
}

export function handleConnection(socket: TLSSocket, ctx: ConnectionContext): void {
  const peer = peerName(socket);
  ctx.log.log(`Accepted connection from ${peer}`);
  let buf = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), ctx.opts.requestTimeoutSec * 1000);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length >= 4 && buf.readInt32BE(0) === 0) {
      clearTimeout(timer);
      socket.end();
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => clearTimeout(timer));
}
