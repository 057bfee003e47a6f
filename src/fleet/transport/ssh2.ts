/**
 * The in-process transport on ssh2: known_hosts verification (user + system files, --accept-new TOFU),
 * ssh-agent and key-file authentication, ProxyJump hops through forwarded channels, one client per host
 * that every command of the run reuses, separate connect and command timeouts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import type { AnyAuthMethod, Client as Ssh2Client, ClientChannel, ConnectConfig } from 'ssh2';
import {
  fingerprint,
  keyTypeOf,
  preferredHostKeyAlgorithms,
  readKnownHostsFiles,
  recordHostKey,
  verifyHostKey,
} from './known-hosts.js';
import { sudoRefusal, sudoRefusalMessage, sudoWrap } from './sudo.js';
import { ConnectError } from './types.js';
import type { ConnectOptions, Connection, HostTarget, RemoteCommandResult, RunOptions, Transport } from './types.js';

// ssh2 is loaded on first connect: --mdns-only, --help and usage errors never pay for it.
type Ssh2Module = typeof import('ssh2');
let ssh2Module: Promise<Ssh2Module> | undefined;
const loadSsh2 = () => (ssh2Module ??= import('ssh2').then((m) => ((m as { default?: Ssh2Module }).default ?? m) as Ssh2Module));

export interface Ssh2TransportOptions {
  /** User known_hosts files; the first one records keys accepted with acceptNew. */
  userKnownHostsFiles?: string[];
  /** System-wide known_hosts files (read only). */
  globalKnownHostsFiles?: string[];
  /** Trust on first use: accept and record a key for a host that has none (never on a mismatch). */
  acceptNew?: boolean;
  /** ssh-agent socket; default $SSH_AUTH_SOCK; '' disables the agent. */
  agentSocket?: string;
  /** Key files tried when a target names none (default ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exist). */
  defaultIdentityFiles?: string[];
  /** Login user when a target names none (default: the local user). */
  defaultUser?: string;
  /** Resolves one ProxyJump hop ("[user@]host[:port]") into a target (ssh_config lookups). */
  resolveJumpHost?: (spec: string) => HostTarget;
}

export function defaultUserKnownHosts(): string[] {
  return [`${homedir()}/.ssh/known_hosts`, `${homedir()}/.ssh/known_hosts2`];
}
export const DEFAULT_GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

export function defaultIdentityFiles(): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => `${homedir()}/.ssh/${n}`).filter((f) => existsSync(f));
}

/** Parses "[user@]host[:port]" (also "[v6addr]:port"). */
export function parseJumpSpec(spec: string): { user?: string; host: string; port?: number } {
  const at = spec.lastIndexOf('@');
  const user = at > 0 ? spec.slice(0, at) : undefined;
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6) return { user, host: v6[1]!, port: v6[2] ? Number(v6[2]) : undefined };
  const m = /^([^:]+)(?::(\d+))?$/.exec(rest);
  return { user, host: m ? m[1]! : rest, port: m?.[2] ? Number(m[2]) : undefined };
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ECONNRESET', 'EPIPE']);

export class Ssh2Transport implements Transport {
  readonly name = 'ssh2';
  private readonly opts: Required<Omit<Ssh2TransportOptions, 'resolveJumpHost'>> & Pick<Ssh2TransportOptions, 'resolveJumpHost'>;

  constructor(opts: Ssh2TransportOptions = {}) {
    this.opts = {
      userKnownHostsFiles: opts.userKnownHostsFiles ?? defaultUserKnownHosts(),
      globalKnownHostsFiles: opts.globalKnownHostsFiles ?? DEFAULT_GLOBAL_KNOWN_HOSTS,
      acceptNew: opts.acceptNew ?? false,
      agentSocket: opts.agentSocket ?? process.env.SSH_AUTH_SOCK ?? '',
      defaultIdentityFiles: opts.defaultIdentityFiles ?? defaultIdentityFiles(),
      defaultUser: opts.defaultUser ?? userInfo().username,
      resolveJumpHost: opts.resolveJumpHost,
    };
  }

  async connect(target: HostTarget, opts: ConnectOptions): Promise<Connection> {
    const ssh2 = await loadSsh2();
    const deadline = Date.now() + opts.connectTimeoutMs;
    const hops: HostTarget[] = [];
    if (target.proxyJump) {
      for (const spec of target.proxyJump.split(',').map((s) => s.trim()).filter(Boolean)) {
        const resolved = this.opts.resolveJumpHost?.(spec);
        const p = parseJumpSpec(spec);
        hops.push(resolved ?? { name: p.host, hostname: p.host, port: p.port ?? 22, user: p.user, source: 'ssh-config' });
      }
    }
    const clients: Ssh2Client[] = [];
    try {
      let sock: ClientChannel | undefined;
      for (const [i, hop] of [...hops, target].entries()) {
        const client = await this.openClient(ssh2, hop, target, deadline, sock);
        clients.push(client);
        const nextHop = [...hops, target][i + 1];
        if (nextHop) sock = await forward(client, nextHop, target, deadline);
      }
    } catch (err) {
      for (const c of clients) c.end();
      throw err;
    }
    return new Ssh2Connection(target, target.user ?? this.opts.defaultUser, clients);
  }

  private authMethods(ssh2: Ssh2Module, hop: HostTarget, user: string): AnyAuthMethod[] {
    const methods: AnyAuthMethod[] = [];
    const explicit = hop.identityFiles ?? [];
    if (this.opts.agentSocket && !(hop.identitiesOnly && explicit.length)) {
      methods.push({ type: 'agent', username: user, agent: this.opts.agentSocket });
    }
    const files = explicit.length ? explicit : this.opts.defaultIdentityFiles;
    for (const file of files) {
      let text: Buffer;
      try {
        text = readFileSync(file);
      } catch {
        continue; // ssh also skips identity files that do not exist
      }
      const parsed = ssh2.utils.parseKey(text);
      if (parsed instanceof Error) continue; // encrypted without a passphrase, or not a key
      methods.push({ type: 'publickey', username: user, key: text });
    }
    return methods;
  }

  private openClient(ssh2: Ssh2Module, hop: HostTarget, finalTarget: HostTarget, deadline: number, sock?: ClientChannel): Promise<Ssh2Client> {
    const label = hop === finalTarget ? hop.name : `${finalTarget.name} (via jump host ${hop.name})`;
    const known = readKnownHostsFiles([...this.opts.userKnownHostsFiles, ...this.opts.globalKnownHostsFiles]);
    const preferred = preferredHostKeyAlgorithms(known, hop.hostname, hop.port);
    const user = hop.user ?? this.opts.defaultUser;
    const methods = this.authMethods(ssh2, hop, user);

    return new Promise<Ssh2Client>((resolve, reject) => {
      const client = new ssh2.Client();
      let settled = false;
      let hostKeyProblem: ConnectError | undefined;
      let sawHandshake = false;
      const finish = (err?: ConnectError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          client.removeAllListeners('ready');
          client.on('error', () => undefined);
          client.end();
          client.destroy();
          reject(err);
        } else resolve(client);
      };
      const remaining = deadline - Date.now();
      const timer = setTimeout(
        () => finish(new ConnectError('timeout', `${label}: connect timed out after ${Math.round(remaining)} ms`)),
        Math.max(1, remaining),
      );

      const hostVerifier = (key: Buffer, verify: (ok: boolean) => void) => {
        const verdict = verifyHostKey(known, hop.hostname, hop.port, key);
        const offered = `${keyTypeOf(key)} ${fingerprint(key)}`;
        if (verdict.kind === 'ok') return verify(true);
        if (verdict.kind === 'unknown' && this.opts.acceptNew) {
          const file = this.opts.userKnownHostsFiles[0];
          if (!file) return verify(true);
          recordHostKey(file, hop.hostname, hop.port, key).then(
            () => verify(true),
            (e: Error) => {
              hostKeyProblem = new ConnectError('hostkey', `${label}: cannot record host key in ${file}: ${e.message}`);
              verify(false);
            },
          );
          return;
        }
        const where = `${hop.hostname}${hop.port === 22 ? '' : `:${hop.port}`}`;
        const msg =
          verdict.kind === 'mismatch'
            ? `${label}: HOST KEY MISMATCH for ${where}: expected ${verdict.expected.join(' or ')} (${verdict.lines.map((l) => `${l.file}:${l.line}`).join(', ')}), offered ${offered}`
            : verdict.kind === 'revoked'
              ? `${label}: host key ${offered} for ${where} is marked @revoked (${verdict.line.file}:${verdict.line.line})`
              : verdict.kind === 'cert-authority-only'
                ? `${label}: known_hosts has only @cert-authority entries for ${where} (${verdict.lines.map((l) => `${l.file}:${l.line}`).join(', ')}); host certificates are not supported, add the host key itself`
                : `${label}: host key for ${where} is not in known_hosts (offered ${offered}); verify it and add it, or use --accept-new to trust on first use`;
        hostKeyProblem = new ConnectError('hostkey', msg);
        verify(false);
      };

      client.on('handshake', () => {
        sawHandshake = true;
      });
      client.on('ready', () => finish());
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (hostKeyProblem) return finish(hostKeyProblem);
        if (err.level === 'client-authentication') {
          return finish(new ConnectError('auth', `${label}: authentication refused for user '${user}' (tried ${describeMethods(methods)})`));
        }
        if (err.message === 'Connection lost before handshake' || (!sawHandshake && err.code === 'ECONNRESET')) {
          return finish(new ConnectError('unreachable', `${label}: connection closed by ${hop.hostname}:${hop.port} before authentication`, { droppedBeforeAuth: true, cause: err }));
        }
        if (err.level === 'client-timeout') return finish(new ConnectError('timeout', `${label}: connect timed out`));
        if (err.code && UNREACHABLE_CODES.has(err.code)) {
          return finish(new ConnectError('unreachable', `${label}: cannot connect to ${hop.hostname}:${hop.port}: ${err.code}`, { cause: err }));
        }
        finish(new ConnectError('unreachable', `${label}: ${err.message}`, { cause: err }));
      });
      client.on('close', () => {
        if (!settled) {
          if (hostKeyProblem) return finish(hostKeyProblem);
          finish(new ConnectError('unreachable', `${label}: connection closed by ${hop.hostname}:${hop.port} before authentication`, { droppedBeforeAuth: !sawHandshake }));
        }
      });

      const config: ConnectConfig = {
        host: hop.hostname,
        port: hop.port,
        username: user,
        sock,
        hostVerifier,
        authHandler: methods.length ? methods : ['none'],
        readyTimeout: Math.max(1, remaining) + 1000, // our own timer fires first, with a clearer message
        keepaliveInterval: 15_000,
      };
      if (preferred.length) {
        const defaults = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
        config.algorithms = { serverHostKey: [...preferred, ...defaults.filter((a) => !preferred.includes(a))] as never };
      }
      try {
        client.connect(config);
      } catch (e) {
        finish(new ConnectError('unreachable', `${label}: ${(e as Error).message}`, { cause: e }));
      }
    });
  }
}

function describeMethods(methods: AnyAuthMethod[]): string {
  if (!methods.length) return 'no keys: no ssh-agent and no identity file';
  return methods.map((m) => (m.type === 'agent' ? 'ssh-agent' : 'key file')).filter((v, i, a) => a.indexOf(v) === i).join(', ');
}

function forward(client: Ssh2Client, next: HostTarget, finalTarget: HostTarget, deadline: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ConnectError('timeout', `${finalTarget.name}: connect timed out while jumping to ${next.hostname}:${next.port}`)),
      Math.max(1, deadline - Date.now()),
    );
    client.forwardOut('127.0.0.1', 0, next.hostname, next.port, (err, channel) => {
      clearTimeout(timer);
      if (err) reject(new ConnectError('unreachable', `${finalTarget.name}: jump host cannot reach ${next.hostname}:${next.port}: ${err.message}`));
      else resolve(channel);
    });
  });
}

export { sudoWrap } from './sudo.js';

class Ssh2Connection implements Connection {
  constructor(
    readonly target: HostTarget,
    readonly user: string,
    private readonly clients: Ssh2Client[],
  ) {}

  private get client(): Ssh2Client {
    return this.clients[this.clients.length - 1]!;
  }

  run(command: string, opts: RunOptions = {}): Promise<RemoteCommandResult> {
    const full = sudoWrap(command, this.user, opts.sudo);
    const t0 = performance.now();
    const host = this.target.name;
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      let exitCode: number | null = null;
      let signal: string | undefined;
      let timedOut = false;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (channelError?: string) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        const durationMs = performance.now() - t0;
        const failed = timedOut || !!channelError || exitCode !== 0;
        const category = timedOut ? 'timeout' : channelError && exitCode === null ? 'unreachable' : failed ? 'failed' : 'ok';
        const refused = full !== command && !timedOut && !channelError ? sudoRefusal(exitCode, stderr) : undefined;
        const shortMessage = refused
          ? sudoRefusalMessage(host, this.user, refused)
          : timedOut
            ? `${host}: command timed out after ${opts.timeoutMs} ms: ${full}`
            : channelError
              ? `${host}: ${channelError}`
              : signal
                ? `${host}: command killed by signal ${signal}: ${full}`
                : exitCode !== 0
                  ? `${host}: command exited with code ${exitCode}: ${full}`
                  : undefined;
        resolve({ host, command: full, exitCode, signal, stdout, stderr, failed, timedOut, durationMs, category, shortMessage, ...(refused ? { sudoRefused: true } : {}) });
      };
      this.client.exec(full, (err, stream) => {
        if (err) return finish(`cannot open a session: ${err.message}`);
        if (opts.timeoutMs && opts.timeoutMs > 0) {
          timer = setTimeout(() => {
            timedOut = true;
            try {
              stream.signal('KILL');
            } catch {
              /* the server may not support signals */
            }
            stream.close();
            finish();
          }, opts.timeoutMs);
        }
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('exit', (code: number | null, sig?: string) => {
          exitCode = code ?? null;
          if (sig) signal = sig;
        });
        stream.on('close', () => finish(exitCode === null && !signal ? 'connection lost while the command ran' : undefined));
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    });
  }

  async close(): Promise<void> {
    for (const c of [...this.clients].reverse()) c.end();
  }
}
