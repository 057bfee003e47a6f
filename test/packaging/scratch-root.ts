/**
 * A private copy of the system paths install.sh writes, for running it for real without touching this machine:
 * every command runs in a new mount namespace (and network namespace: only loopback) where /etc is a copy of the
 * real /etc without the stap-server user, and /usr/local, /var/log, /var/lib and /run are empty scratch dirs.
 * The results stay in the scratch dirs, so the test inspects them from outside.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ScratchRoot {
  dir: string;
  /** Scratch dir that appears at `viewPath` inside the namespace. */
  path(viewPath: string): string;
  run(script: string, opts?: { env?: Record<string, string>; timeoutMs?: number }): { status: number | null; stdout: string; stderr: string };
  destroy(): void;
}

const MOUNTS: [view: string, backing: string][] = [
  ['/etc', 'etc'],
  ['/usr/local', 'usr-local'],
  ['/var/log', 'var-log'],
  ['/var/lib', 'var-lib'],
  ['/run', 'run'],
];

/** Drops the lines of `user` from the passwd/group/shadow/gshadow copies, as on a machine that never had it. */
function withoutUser(etc: string, user: string): void {
  for (const f of ['passwd', 'group', 'shadow', 'gshadow']) {
    const file = join(etc, f);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const kept = text.split('\n').filter((l) => !l.startsWith(`${user}:`));
    writeFileSync(file, kept.join('\n'));
  }
}

export function createScratchRoot(): ScratchRoot {
  const dir = mkdtempSync('/tmp/sf-install-root-');
  chmodSync(dir, 0o755);
  for (const [, backing] of MOUNTS) mkdirSync(join(dir, backing), { mode: 0o755 });
  const cp = spawnSync('cp', ['-a', '/etc/.', join(dir, 'etc')], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`copying /etc: ${cp.stderr}`);
  withoutUser(join(dir, 'etc'), 'stap-server');
  const prelude = [
    'set -e',
    ...MOUNTS.map(([view, backing]) => `mount --bind ${join(dir, backing)} ${view}`),
    'ip link set lo up',
    'set +e',
  ].join('\n');
  return {
    dir,
    path(viewPath: string): string {
      for (const [view, backing] of MOUNTS) {
        if (viewPath === view || viewPath.startsWith(view + '/')) return join(dir, backing, viewPath.slice(view.length));
      }
      if (viewPath.startsWith('/var/run/')) return join(dir, 'run', viewPath.slice('/var/run'.length));
      throw new Error(`${viewPath} is not inside the scratch root`);
    },
    run(script, opts = {}) {
      const r = spawnSync('unshare', ['--mount', '--net', '--propagation', 'private', '--', 'bash', '-c', `${prelude}\n${script}`], {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 120_000,
        env: { ...process.env, STAP_FLEET_INSTALL_NO_SYSTEMCTL: '', ...opts.env },
        cwd: '/',
      });
      return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
    },
    destroy(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
