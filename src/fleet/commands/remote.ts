/** Building the remote command line: quoting and the stap-server invocation. */

/** Single-quotes for a POSIX shell unless the word is plainly safe. */
export function shQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `remote` is the stap-server command as the user gave it (it may hold several words, e.g.
 * "node /opt/stap-fleet/dist/bin/stap-server.js"); it is used verbatim, the arguments are quoted.
 */
export function remoteCommandLine(remote: string, args: string[]): string {
  return [remote.trim(), ...args.map(shQuote)].join(' ');
}

export const SERVICE_ACTIONS = ['start', 'stop', 'restart', 'condrestart', 'try-restart', 'force-reload'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

export type SudoMode = 'auto' | 'always' | 'never';

/** auto: service actions use sudo for a non-root login, status does not (reading status needs no root). */
export function wantsSudo(mode: SudoMode, isAction: boolean): boolean {
  return mode === 'always' || (mode === 'auto' && isAction);
}
