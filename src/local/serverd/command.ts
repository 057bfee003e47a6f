/**
 * The stap command line for one request, built like stap-serverd: `-r<release>`, the server's own
 * `-a -B -D -I -R` options (command-line order), `--tmpdir=<response>/stap000000`, `--client-options`,
 * then the client's arguments verbatim. stap itself enforces what a client may ask for under
 * --client-options (no -R -B --tmpdir --use-server ..., -r/-a syntax, no -I -D -m below stapdev).
 */
export type Privilege = 'stapusr' | 'stapsys' | 'stapdev' | 'unprivileged' | 'highest';

export function buildStapArgs(serverOptions: readonly string[], release: string, stapTmpDir: string, clientArgs: readonly string[]): string[] {
  return [`-r${release}`, ...serverOptions, `--tmpdir=${stapTmpDir}`, '--client-options', ...clientArgs];
}

// stap's getopt tables (cmdline.h / cmdline.cxx): which short options take an argument, and the long
// options with their argument kind. Needed only to find the first --privilege/--unprivileged the way
// stap's own getopt_long will (e.g. `-e --privilege=stapusr` is a script, not an option).
export const SHORT_OPTIONS_WITH_ARGUMENT = new Set('peIEoRramcxDsldLSBJGT'.split(''));
const LONG_OPTIONS: Record<string, 'none' | 'required' | 'optional'> = {
  'skip-badvars': 'none', vp: 'required', unprivileged: 'none', 'build-as': 'optional', 'client-options': 'none',
  help: 'none', 'disable-cache': 'none', 'poison-cache': 'none', 'clean-cache': 'none', compatible: 'required',
  ldd: 'none', 'use-server': 'optional', 'list-servers': 'optional', 'trust-servers': 'optional',
  'use-server-on-error': 'optional', 'use-http-server': 'required', 'all-modules': 'none', 'sign-module': 'optional',
  remote: 'required', 'remote-prefix': 'none', 'check-version': 'none', version: 'none', tmpdir: 'required',
  'download-debuginfo': 'optional', 'dump-probe-types': 'none', 'dump-probe-aliases': 'none', 'dump-functions': 'none',
  privilege: 'required', 'suppress-handler-errors': 'none', modinfo: 'required', 'rlimit-as': 'required',
  'rlimit-cpu': 'required', 'rlimit-nproc': 'required', 'rlimit-stack': 'required', 'rlimit-fsize': 'required',
  sysroot: 'required', sysenv: 'required', 'suppress-time-limits': 'none', runtime: 'required', dyninst: 'none',
  bpf: 'none', 'benchmark-sdt': 'none', 'benchmark-sdt-loops': 'required', 'benchmark-sdt-threads': 'required',
  color: 'optional', colour: 'optional', 'prologue-searching': 'optional', 'save-uprobes': 'none',
  'target-namespaces': 'required', monitor: 'optional', interactive: 'none', example: 'none',
  'no-global-var-display': 'none', 'language-server': 'none', debug: 'none', 'semantic-keep-going': 'none',
};

function lookupLong(name: string): string | undefined {
  if (name in LONG_OPTIONS) return name;
  const matches = Object.keys(LONG_OPTIONS).filter((k) => k.startsWith(name));
  return matches.length === 1 ? matches[0] : undefined; // getopt_long accepts unambiguous prefixes
}

/** The first privilege option of a stap argument list (without argv[0]), as stap-serverd's getRequestedPrivilege. */
export function requestedPrivilege(args: readonly string[]): Privilege {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = lookupLong(eq >= 0 ? a.slice(2, eq) : a.slice(2));
      if (!name) continue;
      let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
      if (LONG_OPTIONS[name] === 'required' && value === undefined) value = args[++i];
      if (name === 'unprivileged') return 'unprivileged';
      if (name === 'privilege') {
        return value === 'stapusr' || value === 'stapsys' || value === 'stapdev' ? value : 'highest';
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        if (SHORT_OPTIONS_WITH_ARGUMENT.has(a[j]!)) {
          if (j === a.length - 1) i++; // the argument is the next word
          break;
        }
      }
    }
  }
  return 'highest';
}

/** Whether a built module must be signed: the client asked for stapusr or stapsys (or --unprivileged). */
export function needsSignature(privilege: Privilege): boolean {
  return privilege === 'stapusr' || privilege === 'stapsys' || privilege === 'unprivileged';
}

/** The space-joined client arguments for the log, as stap-serverd's "Options passed from the client". */
export function describeClientArgs(args: readonly string[]): string {
  return args.map((a) => a.replace(/\n/g, '\\n')).join(' ');
}
