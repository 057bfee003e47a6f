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

/** The environment for stap: the server's own, with the accepted locale variables replacing its values. */
export function stapEnvironment(serverEnv: NodeJS.ProcessEnv, accepted: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(serverEnv)) if (v !== undefined) env[k] = v;
  return Object.assign(env, accepted);
}
