/**
 * The kernel releases a server serves (stap-serverd's kernel_build_tree): each `-r` is a release, or
 * the absolute path of a build tree whose release is read from include/config/kernel.release; with
 * no `-r` the running kernel's release.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { release as osRelease } from 'node:os';
import { StapFleetError } from '../../errors.js';

export function resolveReleases(rOptions: readonly string[]): Map<string, string> {
  const served = new Map<string, string>();
  for (const r of rOptions) {
    if (r.startsWith('/')) {
      const file = join(r, 'include', 'config', 'kernel.release');
      let rel: string;
      try {
        rel = readFileSync(file, 'utf8').trim();
      } catch {
        throw new StapFleetError('SF_SERVERD_START', { detail: `Missing ${file}` });
      }
      served.set(rel, r);
    } else {
      served.set(r, `/lib/modules/${r}/build`);
    }
  }
  if (served.size === 0) served.set(osRelease(), `/lib/modules/${osRelease()}/build`);
  return served;
}
