/** Test helpers: run our stap-serverd, read its fd-3 readiness line, talk raw TLS to it, read response zips. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:tls';
import { chownSync, mkdtempSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import yauzl from 'yauzl';

export const ROOT = resolve(import.meta.dirname, '../../../..');
export const DAEMON = join(ROOT, 'dist/bin/stap-serverd.js');

export interface Ready {
  line: string;
  port?: number;
  certinfo?: string;
  error?: string;
}

/** Reads the one readiness line from the child's fd 3 (or what it said before exiting). */
export function readReady(child: ChildProcess, timeoutMs = 20_000): Promise<Ready> {
  return new Promise((resolveReady, reject) => {
    const fd3 = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
    if (!fd3) return reject(new Error('child has no fd 3 pipe'));
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no readiness line within ${timeoutMs} ms (got ${JSON.stringify(buf)})`)), timeoutMs);
    fd3.setEncoding('utf8');
    fd3.on('data', (d: string) => (buf += d));
    fd3.on('end', () => {
      clearTimeout(timer);
      const line = buf.split('\n')[0] ?? '';
      const m = /^READY port=(\d+) certinfo=([0-9a-f:]+)$/.exec(line);
      resolveReady(m ? { line, port: Number(m[1]), certinfo: m[2] } : { line, error: line.replace(/^ERROR /, '') });
    });
  });
}

export function stapServerIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'stap-server']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'stap-server']).toString().trim()),
  };
}

/** The kernel release that has headers installed (linux-headers-amd64), found at run time. */
export function installedRelease(): string {
  const rel = readdirSync('/lib/modules').find((r) => existsSync(`/lib/modules/${r}/build/.config`));
  if (!rel) throw new Error('no /lib/modules/*/build/.config: install linux-headers-amd64 (scripts/setup.sh)');
  return rel;
}

/** A scratch dir owned by stap-server (the daemon's --ssl, --log and HOME live there). */
export function serverScratch(prefix: string, ids: { uid: number; gid: number }): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chownSync(dir, ids.uid, ids.gid);
  return dir;
}

export interface LocalDaemon {
  child: ChildProcess;
  ready: Ready;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the daemon in the root namespace (loopback only: our daemon never multicasts). */
export async function startLocalDaemon(args: string[], opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; fd3?: boolean } = {}): Promise<LocalDaemon> {
  const child = spawn(process.execPath, [DAEMON, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', ...(opts.fd3 === false ? [] : ['pipe' as const])],
    uid: opts.uid,
    gid: opts.gid,
    env: opts.env ?? process.env,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const ready = opts.fd3 === false ? { line: '' } : await readReady(child);
  return {
    child,
    ready,
    stderr: () => stderr,
    exit,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exit;
      clearTimeout(timer);
      return r;
    },
  };
}

export interface RawResult {
  response: Buffer;
  /** The server closed the connection (vs our timeout). */
  closed: boolean;
  error?: string;
  ms: number;
}

/** Sends raw bytes over TLS (no certificate check) and collects everything until the server closes. */
export function rawTls(host: string, port: number, payload: Buffer | undefined, opts: { timeoutMs?: number; endAfterWrite?: boolean } = {}): Promise<RawResult> {
  const t0 = performance.now();
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const sock = connect({ host, port, rejectUnauthorized: false }, () => {
      if (payload) sock.write(payload);
      if (opts.endAfterWrite) sock.end();
    });
    const timer = setTimeout(() => {
      sock.destroy();
      done({ response: Buffer.concat(chunks), closed: false, error: 'timeout', ms: performance.now() - t0 });
    }, opts.timeoutMs ?? 30_000);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e) => (error = e.message));
    sock.on('close', () => {
      clearTimeout(timer);
      done({ response: Buffer.concat(chunks), closed: true, error, ms: performance.now() - t0 });
    });
  });
}

/** Reads a response zip into name -> content. */
export function readZip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((ok, ko) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, zf) => {
      if (err || !zf) return ko(err ?? new Error('no zip'));
      const files = new Map<string, Buffer>();
      zf.on('entry', (e: yauzl.Entry) => {
        if (e.fileName.endsWith('/')) {
          files.set(e.fileName, Buffer.alloc(0));
          return zf.readEntry();
        }
        zf.openReadStream(e, (e2, s) => {
          if (e2 || !s) return ko(e2);
          const parts: Buffer[] = [];
          s.on('data', (d: Buffer) => parts.push(d));
          s.on('end', () => {
            files.set(e.fileName, Buffer.concat(parts));
            zf.readEntry();
          });
        });
      });
      zf.on('end', () => ok(files));
      zf.on('error', ko);
      zf.readEntry();
    });
  });
}

export function listStapServerTmp(parent: string): string[] {
  return readdirSync(parent).filter((f) => f.startsWith('stap-server.'));
}
