/**
 * The client's `locale` file filtered exactly as stap-serverd's get_stap_locale does: only complete
 * lines (a last line without newline is ignored), split at the first '=', the key must be one of
 * SystemTap's localization variables and the value must match ^[a-zA-Z0-9@_.=-]*$. Every refused line
 * yields the same `Server: Localization ...` message stap-serverd writes to the client's stderr.
 */
export const LOCALIZATION_VARIABLES = new Set([
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'LC_COLLATE',
  'LC_MESSAGES',
  'LC_TIME',
  'LC_MONETARY',
  'LC_NUMERIC',
]);

const VALUE_RE = /^[a-zA-Z0-9@_.=-]*$/;

export interface LocaleFilterResult {
  /** Accepted variables, in file order (a later line replaces an earlier one). */
  accepted: Record<string, string>;
  /** Messages for the client's stderr and the log, without the "Server: " prefix. */
  messages: string[];
}

export function filterLocale(text: string): LocaleFilterResult {
  const accepted: Record<string, string> = {};
  const messages: string[] = [];
  const lines = text.split('\n');
  lines.pop(); // getline() + good(): the text after the last '\n' is never processed
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq < 0) {
      messages.push(`Localization key=value line '${line}' cannot be parsed`);
      continue;
    }
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (!LOCALIZATION_VARIABLES.has(key)) {
      messages.push(`Localization key '${key}' not found in global list`);
      continue;
    }
    if (!VALUE_RE.test(value)) {
      messages.push(`Localization value '${value}' contains illegal characters`);
      continue;
    }
    accepted[key] = value;
  }
  return { accepted, messages };
}

/**
 * glibc's malloc tunable for transparent huge pages. Why: each stap run parses ~500 tapset files into
 * ~100 MB of heap, and faulting that in 4 KiB pages is about a third of a -p2 compile; with 2 MiB pages
 * (THP in "madvise" or "always" mode) the system time halves. The output does not change.
 */
export const HUGE_PAGE_TUNABLE = 'glibc.malloc.hugetlb=1';

/** The server's environment with the huge-page tunable added, unless the admin already set that tunable. */
export function withHugePages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const current = env.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(current)) return env;
  return { ...env, GLIBC_TUNABLES: current ? `${current}:${HUGE_PAGE_TUNABLE}` : HUGE_PAGE_TUNABLE };
}

/** The environment for stap: the server's own, with the accepted locale variables replacing its values. */
export function stapEnvironment(serverEnv: NodeJS.ProcessEnv, accepted: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(serverEnv)) if (v !== undefined) env[k] = v;
  return Object.assign(env, accepted);
}
