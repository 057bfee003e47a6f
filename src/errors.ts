/**
 * The one catalogue of errors. Every error the project raises has a stable code (like fastify's
 * FST_ERR_*), a message template and an exit category; exit codes are derived from the category
 * in one place (exitCodeFor), never chosen at the throw site.
 *
 * Add entries here, grouped by area; never rename or reuse a code once released.
 */

/** Exit categories. The service (stap-server) maps them to LSB codes; stap-fleet has its own map. */
export type ExitCategory =
  | 'failure' // LSB 1: generic failure
  | 'usage' // LSB 2: invalid or excess arguments
  | 'privilege' // LSB 4: user had insufficient privilege
  | 'not-installed' // LSB 5: program is not installed
  | 'not-configured'; // LSB 6: program is not configured (bad config file)

interface CatalogueEntry {
  readonly category: ExitCategory;
  /** Template with {name} placeholders filled from the params object. */
  readonly message: string;
}

export const ERRORS = {
  // --- general / usage ---
  SF_USAGE: { category: 'usage', message: '{detail}' },
  SF_INTERNAL: { category: 'failure', message: 'internal error: {detail}' },
  SF_MDNS_FORBIDDEN: {
    category: 'failure',
    message: 'refusing to send mDNS from the root network namespace (STAP_FLEET_FORBID_ROOT_NETNS=1): run it inside a network namespace',
  },

  // --- config (src/local/config) ---
  SF_CONFIG_SYNTAX: { category: 'not-configured', message: '{file}:{line}: {detail}' },
  SF_CONFIG_READ: { category: 'not-configured', message: '{file}: cannot read: {detail}' },

  // --- service (src/local/service) ---
  SF_USER_MISSING: { category: 'not-configured', message: "user '{user}' does not exist" },
  SF_USER_NOT_IN_GROUP: { category: 'not-configured', message: "user '{user}' is not a member of group 'stap-server'" },
  SF_NO_PRIVILEGE: { category: 'privilege', message: '{detail}' },
  SF_BUILD_TREE: { category: 'usage', message: 'Missing {file}' },
  SF_NO_SUCH_PID: { category: 'failure', message: 'No stap-server running as pid {pid}' },
  SF_UNKNOWN_NICKNAME: { category: 'failure', message: "No configuration found for the nickname '{nickname}'" },
  SF_UNREADABLE_INSTALL: {
    category: 'not-installed',
    message: "user '{user}' cannot read {path}: install stap-fleet in a world-readable location",
  },
  SF_STAT_DIR: { category: 'failure', message: 'Failed to make stat directory ({dir}): {detail}' },
  SF_LOG_DIR: { category: 'failure', message: 'Failed to make log directory ({dir}): {detail}' },
  SF_LOCK: { category: 'failure', message: 'cannot lock {file}: {detail}' },
  SF_BAD_VALUE: { category: 'usage', message: '{detail}' },

  // --- compile server (src/local/serverd) ---
  SF_SERVERD_ROOT: {
    category: 'privilege',
    message: 'For security reasons, invocation of stap-serverd as root is not supported.',
  },
  SF_SERVERD_START: { category: 'failure', message: 'Unable to start a systemtap server: {detail}' },
  SF_REQUEST_REJECTED: { category: 'failure', message: '{detail}' },

  // --- agent (src/local/agent) ---
  SF_AGENT_RUNNING: { category: 'failure', message: 'stap-agent already runs as pid {pid} for {statPath}' },
  SF_AGENT_START: { category: 'failure', message: 'cannot start stap-agent: {detail}' },
  SF_AGENT_STOP: { category: 'failure', message: 'stap-agent (pid {pid}) {detail}' },
  SF_AGENT_INTERFACE: { category: 'not-configured', message: 'stap-agent: {detail}' },

  // --- trust (src/trust) ---
  SF_CERT: { category: 'failure', message: 'certificate problem in {dir}: {detail}' },
  SF_SIGNATURE: { category: 'failure', message: 'signature check failed for {file}: {detail}' },

  // --- fleet (src/fleet) ---
  SF_TARGETS: { category: 'usage', message: '{detail}' },
  SF_INVENTORY: { category: 'usage', message: '{file}:{line}: {detail}' },
  SF_HOST_KEY_MISMATCH: {
    category: 'failure',
    message: '{host}: host key mismatch: expected {expected}, offered {offered}',
  },
  SF_HOST_KEY_UNKNOWN: { category: 'failure', message: '{host}: host key not in known_hosts (offered {offered}); use --accept-new to trust on first use' },
  SF_HOST_KEY_REVOKED: { category: 'failure', message: '{host}: host key {offered} is marked @revoked in known_hosts' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** An error from the catalogue. `params` keeps the structured details for --json output. */
export class StapFleetError extends Error {
  readonly code: ErrorCode;
  readonly category: ExitCategory;
  readonly params: Readonly<Record<string, string | number>>;

  constructor(code: ErrorCode, params: Record<string, string | number> = {}, options?: { cause?: unknown }) {
    super(formatMessage(ERRORS[code].message, params), options);
    this.name = 'StapFleetError';
    this.code = code;
    this.category = ERRORS[code].category;
    this.params = params;
  }
}

export function fail(code: ErrorCode, params: Record<string, string | number> = {}): never {
  throw new StapFleetError(code, params);
}

function formatMessage(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in params ? String(params[key]) : whole));
}

/** LSB exit code of a category, for the stap-server service actions. */
export const LSB_EXIT: Record<ExitCategory, number> = {
  failure: 1,
  usage: 2,
  privilege: 4,
  'not-installed': 5,
  'not-configured': 6,
};

export function exitCodeFor(err: unknown): number {
  return err instanceof StapFleetError ? LSB_EXIT[err.category] : 1;
}

export function isStapFleetError(err: unknown): err is StapFleetError {
  return err instanceof StapFleetError;
}
