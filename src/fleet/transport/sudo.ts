/**
 * Root on a target through `sudo -n`: how the command is wrapped, and how sudo's own refusal is told apart
 * from a failure of the command it would have run (both exit 1), so the host's message names sudo.
 */

/**
 * `umask 022; exec sudo -n -- command` when sudo is wanted and the login user is not root (-n: fail at once,
 * never prompt; exec: the login shell does not stay behind waiting). sudo runs the command with the union of the login's umask and its own (022): a hardened login
 * (umask 077) would make the service's state files 0600, and the same user's status, which reads them
 * without sudo, would then silently see no servers. The umask is set before sudo, so sudoers rules still
 * match the command itself.
 */
export function sudoWrap(command: string, user: string, sudo: boolean | undefined): string {
  return sudo && user !== 'root' ? `umask 022; exec sudo -n -- ${command}` : command;
}

/**
 * Why sudo did not run the command, from the remote exit code and stderr; undefined when it did (or was not
 * used). sudo exits 1 and prefixes its own errors with "sudo: " ("a password is required", "a terminal is
 * required ...", "<cmd>: command not found"); its warnings (e.g. "unable to resolve host") do not stop it.
 * A login shell without sudo exits 127 ("exec: sudo: not found" from dash and bash).
 */
export function sudoRefusal(exitCode: number | null, stderr: string): string | undefined {
  if (exitCode === 127 && /(^|\s)sudo: (command )?not found\s*$/m.test(stderr)) return 'sudo is not installed';
  if (exitCode !== 1) return undefined;
  const line = stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('sudo: ') && !/^sudo: unable to resolve host /.test(l));
  return line ? line.slice('sudo: '.length) : undefined;
}

/** The host's one-line message for a refusal, with what the user can do about it. */
export function sudoRefusalMessage(host: string, user: string, reason: string): string {
  return `${host}: sudo -n did not run the command as root for '${user}': ${reason} (allow the command without a password in the host's sudoers, log in as root, or use --sudo never)`;
}
