/**
 * The transport contract of stap-fleet: how the controller reaches a host and runs one command there.
 * Two implementations live beside this file (ssh2 in-process, system `ssh` through execa); everything
 * above them (runner, actions, status) only sees these types.
 */

/** Where a target came from; several sources may name the same host (they are merged by name). */
export type TargetSource = 'mdns' | 'inventory' | 'ssh-config' | 'cli';

export interface HostTarget {
  /** Name shown to the user and used for node sets / folding (e.g. "h3"). */
  name: string;
  /** What to connect to: a DNS name or an IP address. */
  hostname: string;
  /** SSH port. */
  port: number;
  user?: string;
  identityFiles?: string[];
  /** ssh_config IdentitiesOnly: offer only identityFiles, not the agent's keys. */
  identitiesOnly?: boolean;
  /** ssh_config ProxyJump value ("[user@]host[:port]", comma-separated hops). */
  proxyJump?: string;
  source: TargetSource;
  /** TXT record of the advertisement the host was discovered from (mDNS only). */
  txt?: Record<string, string>;
  /** Every address the host was seen at (mDNS), first one is used. */
  addresses?: string[];
}

/**
 * Outcome category of one host (or one command):
 * - ok: command ran and exited 0
 * - failed: command ran and exited non-zero (or was killed by a signal)
 * - unreachable: could not open a TCP/SSH session (refused, no route, DNS, connection dropped)
 * - timeout: connect or command timeout expired
 * - hostkey: host key unknown, mismatched or revoked (refused before authentication)
 * - auth: the server rejected every authentication method we offered
 */
export type HostCategory = 'ok' | 'failed' | 'unreachable' | 'timeout' | 'hostkey' | 'auth';

/** Execa-like result of one remote command. */
export interface RemoteCommandResult {
  host: string;
  command: string;
  exitCode: number | null;
  /** Signal name when the remote process was killed by one. */
  signal?: string;
  stdout: string;
  stderr: string;
  failed: boolean;
  timedOut: boolean;
  durationMs: number;
  category: HostCategory;
  shortMessage?: string;
  /** sudo itself refused (the command never ran); shortMessage says why and what to do. */
  sudoRefused?: boolean;
}

export interface RunOptions {
  stdin?: string | Buffer;
  /** Command timeout; on expiry the channel is closed and the result has timedOut=true, category 'timeout'. */
  timeoutMs?: number;
  /** Prefix with `sudo -n` when the login user is not root. */
  sudo?: boolean;
}

/** One authenticated session to one host; reused for every command of a run. */
export interface Connection {
  readonly target: HostTarget;
  /** Login user actually used. */
  readonly user: string;
  run(command: string, opts?: RunOptions): Promise<RemoteCommandResult>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Time allowed for TCP connect + key exchange + authentication. */
  connectTimeoutMs: number;
}

/**
 * Opens connections. connect() rejects with a ConnectError (below) carrying the category, never with a
 * bare Error, so the runner can report each host's own category and message.
 */
export interface Transport {
  readonly name: string;
  connect(target: HostTarget, opts: ConnectOptions): Promise<Connection>;
  /** Releases shared resources (agent sockets, control masters). Optional. */
  dispose?(): Promise<void>;
}

/** Rejection of Transport.connect(): which category and a one-line message naming the host. */
export class ConnectError extends Error {
  readonly category: Exclude<HostCategory, 'ok' | 'failed'>;
  /** True only when the server closed the connection before authentication (MaxStartups): retryable. */
  readonly droppedBeforeAuth: boolean;
  constructor(category: Exclude<HostCategory, 'ok' | 'failed'>, message: string, opts: { droppedBeforeAuth?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ConnectError';
    this.category = category;
    this.droppedBeforeAuth = opts.droppedBeforeAuth ?? false;
  }
}
