/**
 * Like stap-serverd, add our own stap.cert to the server user's per-user client trust database
 * ($SYSTEMTAP_DIR/ssl/client, else ~/.systemtap/ssl/client), so that `stap --use-server` run by that
 * user trusts its own server. Optional: skipped when certutil is missing, failures are only logged.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from './log.js';

export function clientTrustDir(env: NodeJS.ProcessEnv): string {
  if (env.SYSTEMTAP_DIR) return join(env.SYSTEMTAP_DIR, 'ssl', 'client');
  return join(env.HOME || homedir(), '.systemtap', 'ssl', 'client');
}

export async function trustOwnCertificate(sslDir: string, env: NodeJS.ProcessEnv, log: Logger): Promise<boolean> {
  const certutil = ['/usr/bin/certutil', '/bin/certutil'].find((p) => existsSync(p));
  if (!certutil) return false;
  const dir = clientTrustDir(env);
  const db = `sql:${dir}`;
  try {
    const { execa } = await import('execa');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (!existsSync(join(dir, 'cert9.db'))) {
      await execa(certutil, ['-N', '--empty-password', '-d', db], { timeout: 15_000, stdin: 'ignore' });
    }
    await execa(certutil, ['-A', '-n', 'stap-server', '-t', 'P,P,P', '-i', join(sslDir, 'stap.cert'), '-d', db], {
      timeout: 15_000,
      stdin: 'ignore',
    });
    return true;
  } catch (err) {
    log.log(`Unable to add the server certificate to ${dir}: ${(err as { shortMessage?: string }).shortMessage ?? (err as Error).message}`);
    return false;
  }
}
