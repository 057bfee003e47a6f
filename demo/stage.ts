/**
 * Where the demo's hosts run stap-fleet from. The compile servers run as the unprivileged user stap-server,
 * who must be able to read the daemon and its node_modules. A clone under a 0700 directory (/root) is not
 * readable by that user: then the built code (dist/, package.json and the production dependencies from
 * package-lock.json) is copied to a world-readable scratch directory that teardown removes.
 * Everything here is asynchronous: `npx tsx` SIGKILLs a child whose event loop does not answer a relayed SIGINT
 * within 60 ms, and the demo must stay able to tear down.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface CodeRoot {
  /** Directory holding dist/, package.json and node_modules/ that the hosts run. */
  dir: string;
  /** True when dir is a copy the demo made (and removes at teardown). */
  staged: boolean;
  /** Why the copy was needed ('' when the project itself is used). */
  reason: string;
}

/** Runs `node <daemon> --help` as user (it loads the daemon's whole import graph): exit 0 = readable. */
export async function readableBy(user: string, projectDir: string): Promise<{ ok: boolean; detail: string }> {
  const daemon = join(projectDir, 'dist/bin/stap-serverd.js');
  const r = await new Promise<{ code: number | null; stderr: string }>((done) => {
    execFile(
      'setpriv',
      ['--reuid', user, '--regid', user, '--init-groups', '--', process.execPath, daemon, '--help'],
      { cwd: '/', encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/' } },
      (err, _stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr: stderr || (err?.message ?? '') }),
    );
  });
  if (r.code === 0) return { ok: true, detail: '' };
  const closed = closedAncestor(daemon);
  if (closed) return { ok: false, detail: closed };
  const why = r.stderr.trim().split('\n').find((l) => /EACCES|denied|Error/.test(l));
  return { ok: false, detail: why ?? `exit ${r.code}` };
}

/** Node says "Cannot find module" when a directory on the way is not searchable: name that directory. */
function closedAncestor(file: string): string | undefined {
  let dir = '/';
  for (const part of dirname(file).split('/').filter(Boolean)) {
    dir = join(dir, part);
    try {
      const mode = statSync(dir).mode & 0o777;
      if ((mode & 0o001) === 0) return `${dir} is mode ${mode.toString(8).padStart(4, '0')}: permission denied to other users`;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The production dependencies (not "dev") listed at the top of package-lock.json's node_modules tree. */
export function productionModules(projectDir: string): string[] {
  const lock = JSON.parse(readFileSync(join(projectDir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path.startsWith('node_modules/') && !path.slice('node_modules/'.length).includes('node_modules/') && !meta.dev)
    .map(([path]) => path);
}

export async function resolveCodeRoot(projectDir: string, user: string): Promise<CodeRoot> {
  const check = await readableBy(user, projectDir);
  if (check.ok) return { dir: projectDir, staged: false, reason: '' };
  const dir = await mkdtemp('/var/tmp/stap-fleet-demo-code-');
  try {
    chmodSync(dir, 0o755);
    await cp(join(projectDir, 'dist'), join(dir, 'dist'), { recursive: true });
    await cp(join(projectDir, 'package.json'), join(dir, 'package.json'));
    for (const m of productionModules(projectDir)) {
      // Optional native helpers (cpu-features) may be absent; ssh2 works without them.
      if (existsSync(join(projectDir, m))) await cp(join(projectDir, m), join(dir, m), { recursive: true });
    }
    await new Promise<void>((done, fail) => execFile('chmod', ['-R', 'a+rX', dir], (err) => (err ? fail(err) : done())));
    const again = await readableBy(user, dir);
    if (!again.ok) throw new Error(`the copy in ${dir} is still not usable by ${user}: ${again.detail}`);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, staged: true, reason: check.detail };
}
