/**
 * The compile-server daemon's life: refuse root, open the log, ensure the certificate, listen on
 * [::]:port with TLS, report readiness on fd 3, serve connections, re-check the certificate after each
 * request, and drain then exit 0 on SIGTERM/SIGINT/SIGHUP.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { userInfo, hostname, homedir } from 'node:os';
import { resolveReleases } from './releases.js';
import { ResponseCache } from './cache.js';
import { RESPONSE_CACHE_MAX_BYTES } from './options.js';
import { StapFleetError } from '../../errors.js';
import { ensureServerCertificate, checkServerCertificate, type ServerCredentials } from '../../trust/cert.js';
import type { ServerdOptions } from './options.js';
import { openLogger, type Logger } from './log.js';
import { ReadinessReporter } from './readiness.js';
import { handleConnection, type ConnectionContext } from './connection.js';
import { WorkQueue } from './queue.js';
import { trustOwnCertificate } from './self-trust.js';
import { withHugePages } from './locale.js';

export interface RunningServer {
  port: number;
  certinfo: string;
  /** Resolves with the exit code once the server has shut down. */
  closed: Promise<number>;
  shutdown(reason: string): Promise<number>;
}

const DRAIN_MS = 3000;

/** Logs which stap serves requests (and loads execa's lazy parts before the first request). */
async function logStapVersion(stap: string, log: Logger): Promise<void> {
  const { execa } = await import('execa');
  const r = await execa(stap, ['-V'], { reject: false, stdin: 'ignore', timeout: 20_000 });
  const first = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.trim().length > 0);
  if (r.exitCode === 0 && first) log.log(`Using ${stap}: ${first.trim()}`);
  else log.log(`Warning: ${stap} -V failed (${r.shortMessage}); requests will fail until it works`);
}

export function assertNotRoot(env: NodeJS.ProcessEnv = process.env): void {
  if (typeof process.geteuid === 'function' && process.geteuid() === 0 && !env.STAP_PR11197_OVERRIDE) {
    throw new StapFleetError('SF_SERVERD_ROOT');
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.geteuid?.() ?? 'unknown');
  }
}

async function loadCredentials(opts: ServerdOptions, log: Logger, avoid?: string): Promise<ServerCredentials> {
  const creds = await ensureServerCertificate(opts.sslDir, { hostname: hostname(), avoidCertinfo: avoid });
  if (creds.generated) {
    log.log(`Certificate in ${opts.sslDir} is not usable (${creds.reason})`);
    log.log(`Generated a new certificate in ${opts.sslDir}, certinfo ${creds.certinfo}, valid until ${creds.notAfter.toISOString()}`);
  }
  return creds;
}

function listen(server: Server, port: number): Promise<{ port: number; address: string }> {
  const attempt = (host: string, ipv6Only: boolean): Promise<{ port: number; address: string }> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host, port, ipv6Only, exclusive: true }, () => {
        server.off('error', onError);
        const addr = server.address();
        if (addr && typeof addr === 'object') resolve({ port: addr.port, address: host === '::' ? '[::]' : host });
        else reject(new Error('no address'));
      });
    });
  // Dual-stack like stap-serverd 1.8+; a kernel without IPv6 falls back to IPv4 only.
  return attempt('::', false).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL') return attempt('0.0.0.0', false);
    throw err;
  });
}

/** Starts the server. Throws StapFleetError before readiness; the caller reports it. */
export async function startServerd(opts: ServerdOptions, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  assertNotRoot(env);
  log.log(`===== compile server pid ${process.pid} starting as ${currentUser()} =====`);
  const releases = resolveReleases(opts.releases);
  let creds = await loadCredentials(opts, log);

  const queue = new WorkQueue(opts.maxThreads);
  const sockets = new Set<TLSSocket>();
  let stopping = false;
  let recheck: Promise<void> = Promise.resolve();

  const server = createServer({
    // No client certificates are checked, so skip parsing the system's root CA store (~20 ms per start).
    ca: [],
    key: creds.keyPem,
    cert: creds.certPem,
    requestCert: false,
    minVersion: 'TLSv1.2',
    handshakeTimeout: opts.requestTimeoutSec * 1000,
  });

  // Each connection may buffer up to --max-compressed-request bytes: bound how many are open at once.
  server.maxConnections = Math.max(64, 8 * opts.maxThreads);

  // stap-serverd re-checks its certificate after each request and regenerates it when it expired.
  const recheckCertificate = (): void => {
    recheck = recheck.then(async () => {
      if (stopping) return;
      const check = checkServerCertificate(opts.sslDir);
      if (check.ok && check.credentials.certinfo === creds.certinfo) return;
      try {
        creds = check.ok ? { ...check.credentials, generated: false } : await loadCredentials(opts, log, creds.certinfo);
        server.setSecureContext({ ca: [], key: creds.keyPem, cert: creds.certPem });
        log.log(`Now serving certificate ${creds.certinfo}`);
      } catch (err) {
        log.log(`Unable to renew the certificate: ${(err as Error).message}`);
      }
    });
  };

  const ctx: ConnectionContext = {
    log,
    queue,
    maxCompressedRequest: opts.maxCompressedRequest,
    requestTimeoutMs: opts.requestTimeoutSec * 1000,
    keepTemp: opts.keepTemp,
    onRequestDone: recheckCertificate,
    process: {
      stap: opts.stap,
      serverStapOptions: opts.stapOptions,
      releases: new Set(releases.keys()),
      buildTrees: releases,
      cache: new ResponseCache({
        maxEntries: opts.responseCacheEntries,
        maxBytes: RESPONSE_CACHE_MAX_BYTES,
        ttlMs: opts.responseCacheTtlSec * 1000,
      }),
      maxRequestSize: opts.maxRequestSize,
      compileTimeoutMs: opts.compileTimeoutSec * 1000,
      tmpParent: opts.tmpDir,
      serverEnv: opts.hugePages ? withHugePages(env) : env,
      serverHome: env.HOME || homedir(),
      signingKey: () => creds.keyPem,
      log: (m) => log.log(m),
    },
  };

  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    handleConnection(socket, ctx).catch((err: unknown) => {
      // e.g. the temp dir parent became unwritable: this client loses, the server keeps serving.
      log.log(`Error processing client request: ${(err as Error)?.message ?? String(err)}`);
      socket.destroy();
    });
  });
  // A failed handshake often arrives after the TCP socket is gone, with its address: remember it at accept.
  const peers = new WeakMap<object, string>();
  server.on('connection', (raw: Socket) => {
    if (raw.remoteAddress) peers.set(raw, `[${raw.remoteAddress}]:${raw.remotePort}`);
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const raw = (socket as unknown as { _parent?: object })._parent;
    const known = socket.remoteAddress ? `[${socket.remoteAddress}]:${socket.remotePort}` : raw ? peers.get(raw) : undefined;
    log.log(`TLS handshake${known ? ` with ${known}` : ''} failed: ${err.code ?? err.message}`);
  });

  let bound: { port: number; address: string };
  const onListenError = (err: Error): void => log.log(`Listener error: ${err.message}`);
  try {
    bound = await listen(server, opts.port);
  } catch (err) {
    throw new StapFleetError('SF_SERVERD_START', { detail: `cannot listen on port ${opts.port}: ${(err as Error).message}` });
  }
  server.on('error', onListenError); // after listen: e.g. EMFILE on accept must not kill the daemon
  log.log(`Using network address ${bound.address}:${bound.port}`);
  log.log(opts.maxThreads > 0 ? `Using a maximum of ${opts.maxThreads} threads` : 'Concurrency disabled');
  if (opts.trustSelf) void trustOwnCertificate(opts.sslDir, env, log);
  void logStapVersion(opts.stap, log);

  let resolveClosed!: (code: number) => void;
  const closed = new Promise<number>((r) => (resolveClosed = r));
  let shutdownPromise: Promise<number> | undefined;

  const shutdown = (reason: string): Promise<number> => {
    if (shutdownPromise) return shutdownPromise;
    stopping = true;
    log.log(reason);
    shutdownPromise = (async () => {
      await new Promise<void>((r) => server.close(() => r()));
      // Like stap-serverd: give running compiles a few seconds, then terminate their stap processes.
      const drained = await Promise.race([
        queue.idle().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), DRAIN_MS).unref()),
      ]);
      if (!drained) queue.abortAll();
      for (const s of sockets) s.destroy();
      await recheck;
      resolveClosed(0);
      return 0;
    })();
    return shutdownPromise;
  };

  return { port: bound.port, certinfo: creds.certinfo, closed, shutdown };
}

/** Entry used by the binary: runs until a signal, reports readiness, returns the exit code. */
export async function runServerd(opts: ServerdOptions, env: NodeJS.ProcessEnv = process.env, reporter = new ReadinessReporter()): Promise<number> {
  let log: Logger;
  try {
    log = openLogger(opts.log);
  } catch (err) {
    const message = `cannot open log file ${opts.log}: ${(err as Error).message}`;
    process.stderr.write(`stap-serverd: ${message}\n`);
    reporter.error(message);
    return 1;
  }
  let running: RunningServer;
  try {
    running = await startServerd(opts, log, env);
  } catch (err) {
    const message = err instanceof StapFleetError ? err.message : `Unable to start a systemtap server: ${(err as Error).message}`;
    log.log(message);
    if (opts.log) process.stderr.write(`${message}\n`);
    reporter.error(message);
    log.close();
    return 1;
  }
  for (const [sig, num] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]] as const) {
    process.on(sig, () => void running.shutdown(`Received signal ${num}, exiting`));
  }
  reporter.ready(running.port, running.certinfo);
  const code = await running.closed;
  log.close();
  return code;
}
