/**
 * The second transport: the system `ssh` client through execa. ssh itself reads ~/.ssh/config, known_hosts,
 * the agent and ProxyJump; we add BatchMode, timeouts and host-key strictness, and optionally a ControlMaster
 * (ControlPath with %C, so the path never overflows the socket length) so every command of a run reuses one
 * connection. connect() runs `true` once to classify the host (unreachable, host key, auth) up front.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sudoRefusal, sudoRefusalMessage, sudoWrap } from './sudo.js';
import { ConnectError } from './types.js';
import type { ConnectOptions, Connection, HostCategory, HostTarget, RemoteCommandResult, RunOptions, Transport } from './types.js';

export interface OpenSshTransportOptions {
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  acceptNew?: boolean;
  controlMaster?: boolean;
  /** ssh -F file (default: ssh's own ~/.ssh/config). */
  sshConfig?: string;
  sshBinary?: string;
}

/** Classifies ssh's exit 255 from its stderr. */
export function classifySshError(stderr: string): { category: Exclude<HostCategory, 'ok' | 'failed'>; droppedBeforeAuth: boolean } {
  const s = stderr;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known|REVOKED HOST KEY/i.test(s)) {
    return { category: 'hostkey', droppedBeforeAuth: false };
  }
  if (/Permission denied \(|Too many authentication failures|no more authentication methods/i.test(s)) return { category: 'auth', droppedBeforeAuth: false };
  if (/timed out/i.test(s)) return { category: 'timeout', droppedBeforeAuth: false };
  if (/kex_exchange_identification|Connection closed by .* port \d+\s*$|Connection reset by/im.test(s)) {
    return { category: 'unreachable', droppedBeforeAuth: true };
  }
  return { category: 'unreachable', droppedBeforeAuth: false };
}

/** The lines of ssh's stderr that say what went wrong (for a changed key: both fingerprints and the file:line). */
export function sshErrorSummary(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const keep = lines.filter((l) => /SHA256:|Offending|Host key verification failed|host key is known|Permission denied|Connection (refused|timed out|closed|reset)|No route|Could not resolve|timed out/i.test(l));
  return (keep.length ? keep : lines.slice(-1)).join(' | ') || 'ssh failed';
}

export class OpenSshTransport implements Transport {
  readonly name = 'openssh';
  private controlDir?: string;

  constructor(private readonly opts: OpenSshTransportOptions = {}) {}

  baseArgs(target: HostTarget, connectTimeoutMs: number): string[] {
    const o = this.opts;
    const args: string[] = [];
    if (o.sshConfig) args.push('-F', o.sshConfig);
    args.push(
      '-o', 'BatchMode=yes',
      '-o', `ConnectTimeout=${Math.max(1, Math.ceil(connectTimeoutMs / 1000))}`,
      '-o', `StrictHostKeyChecking=${o.acceptNew ? 'accept-new' : 'yes'}`,
      '-o', 'LogLevel=ERROR',
    );
    if (o.userKnownHostsFiles?.length) args.push('-o', `UserKnownHostsFile=${o.userKnownHostsFiles.join(' ')}`);
    if (o.globalKnownHostsFiles?.length) args.push('-o', `GlobalKnownHostsFile=${o.globalKnownHostsFiles.join(' ')}`);
    if (o.controlMaster) {
      this.controlDir ??= mkdtempSync(join(tmpdir(), 'stap-fleet-cm-'));
      args.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${this.controlDir}/%C`, '-o', 'ControlPersist=60');
    }
    if (target.port) args.push('-p', String(target.port));
    if (target.user) args.push('-l', target.user);
    for (const f of target.identityFiles ?? []) args.push('-i', f);
    if (target.identitiesOnly) args.push('-o', 'IdentitiesOnly=yes');
    if (target.proxyJump) args.push('-J', target.proxyJump);
    args.push('--', target.hostname);
    return args;
  }

  async connect(target: HostTarget, opts: ConnectOptions): Promise<Connection> {
    const conn = new OpenSshConnection(target, target.user ?? process.env.USER ?? 'root', this, opts.connectTimeoutMs);
    // Without a master each command is its own ssh (which connects and classifies errors itself), so a
    // probe would only double the cost; with one, the probe opens the master every later command reuses.
    if (!this.opts.controlMaster) return conn;
    const probe = await conn.exec('true', { timeoutMs: opts.connectTimeoutMs + 5000 });
    if (probe.timedOut) throw new ConnectError('timeout', `${target.name}: connect timed out after ${opts.connectTimeoutMs} ms`);
    if (probe.exitCode === 255 || probe.exitCode === null) {
      const { category, droppedBeforeAuth } = classifySshError(probe.stderr);
      const line = probe.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
      throw new ConnectError(category, `${target.name}: ${line || 'ssh failed'}`, { droppedBeforeAuth });
    }
    return conn;
  }

  usesMaster(): boolean {
    return !!this.opts.controlMaster;
  }

  sshBinary(): string {
    return this.opts.sshBinary ?? 'ssh';
  }

  async closeMaster(target: HostTarget, connectTimeoutMs: number): Promise<void> {
    if (!this.opts.controlMaster) return;
    const { execa } = await import('execa');
    await execa(this.sshBinary(), ['-O', 'exit', ...this.baseArgs(target, connectTimeoutMs)], { reject: false, timeout: 5000 });
  }

  async dispose(): Promise<void> {
    if (this.controlDir) rmSync(this.controlDir, { recursive: true, force: true });
  }
}

class OpenSshConnection implements Connection {
  constructor(
    readonly target: HostTarget,
    readonly user: string,
    private readonly transport: OpenSshTransport,
    private readonly connectTimeoutMs: number,
  ) {}

  async exec(command: string, opts: RunOptions): Promise<RemoteCommandResult> {
    const full = sudoWrap(command, this.user, opts.sudo);
    const { execa } = await import('execa'); // loaded only when this transport is used: it costs startup time
    const r = await execa(this.transport.sshBinary(), [...this.transport.baseArgs(this.target, this.connectTimeoutMs), full], {
      reject: false,
      input: opts.stdin,
      stdin: opts.stdin === undefined ? 'ignore' : 'pipe',
      // Without a master this one ssh process also connects: its budget is connect + command timeout.
      timeout: opts.timeoutMs && opts.timeoutMs > 0 ? opts.timeoutMs + (this.transport.usesMaster() ? 0 : this.connectTimeoutMs) : undefined,
      killSignal: 'SIGKILL',
    });
    const exitCode = r.exitCode ?? null;
    const host = this.target.name;
    const timedOut = !!r.timedOut;
    const category: HostCategory = timedOut ? 'timeout' : exitCode === 255 ? classifySshError(String(r.stderr)).category : exitCode === 0 ? 'ok' : 'failed';
    const refused = full !== command && category === 'failed' ? sudoRefusal(exitCode, String(r.stderr ?? '')) : undefined;
    return {
      host,
      command: full,
      exitCode,
      signal: r.signal ?? undefined,
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
      failed: category !== 'ok',
      timedOut,
      durationMs: r.durationMs,
      category,
      ...(refused ? { sudoRefused: true } : {}),
      shortMessage:
        category === 'ok'
          ? undefined
          : refused
            ? sudoRefusalMessage(host, this.user, refused)
            : timedOut
              ? `${host}: command timed out after ${opts.timeoutMs} ms: ${full}`
              : exitCode === 255
                ? `${host}: ssh: ${sshErrorSummary(String(r.stderr))}`
                : `${host}: command exited with code ${exitCode}: ${full}`,
    };
  }

  run(command: string, opts: RunOptions = {}): Promise<RemoteCommandResult> {
    return this.exec(command, opts);
  }

  async close(): Promise<void> {
    await this.transport.closeMaster(this.target, this.connectTimeoutMs);
  }
}
