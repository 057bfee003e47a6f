/**
 * Reads the live servers from STAT_PATH: `<pid>.stat` + our `<pid>.stap-fleet.json` sidecar (written by the
 * service), liveness by process identity, and certinfo from the ssl dir's stap.cert (re-read when it changes).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { StatusStore } from '../status.js';
import { certinfoOfFile } from '../../trust/cert.js';
import type { IgnoredServer, LiveServer } from './model.js';

interface CertCacheEntry {
  sig: string;
  certinfo: string | undefined;
}

export class ServerScanner {
  private readonly store: StatusStore;
  private readonly certCache = new Map<string, CertCacheEntry>();

  constructor(readonly statPath: string) {
    this.store = new StatusStore(statPath);
  }

  scan(): { live: LiveServer[]; ignored: IgnoredServer[]; errors: string[] } {
    const errors: string[] = [];
    const live: LiveServer[] = [];
    const ignored: IgnoredServer[] = [];
    for (const e of this.store.list(errors)) {
      if (!this.store.isAlive(e)) continue; // dead: the service removes its files; we just stop advertising
      const sc = e.sidecar;
      if (!sc) {
        ignored.push({ pid: e.pid, reason: 'no .stap-fleet.json sidecar (a SystemTap stap-serverd advertises itself)' });
        continue;
      }
      if (!Number.isInteger(sc.port) || sc.port <= 0 || sc.port > 65535) {
        ignored.push({ pid: e.pid, reason: `sidecar has no valid port (${String(sc.port)})` });
        continue;
      }
      const releases = sc.releases?.length ? sc.releases : e.spec.releases;
      if (!releases.length) {
        ignored.push({ pid: e.pid, reason: 'serves no kernel release' });
        continue;
      }
      const fromCert = sc.sslDir ? this.certinfo(join(sc.sslDir, 'stap.cert')) : undefined;
      live.push({
        pid: e.pid,
        port: sc.port,
        arch: sc.arch || e.spec.arch,
        releases,
        optinfo: sc.optinfo ?? '',
        certinfo: fromCert ?? sc.certinfo ?? '',
        certinfoSource: fromCert ? 'cert' : 'sidecar',
        sslDir: sc.sslDir ?? '',
      });
    }
    return { live, ignored, errors };
  }

  /** certinfo of a certificate file, re-parsed only when its inode, size or mtime change. */
  private certinfo(file: string): string | undefined {
    let sig: string;
    try {
      const st = statSync(file);
      sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      this.certCache.delete(file);
      return undefined;
    }
    const cached = this.certCache.get(file);
    if (cached && cached.sig === sig) return cached.certinfo;
    let certinfo: string | undefined;
    try {
      certinfo = certinfoOfFile(file);
    } catch {
      certinfo = undefined;
    }
    this.certCache.set(file, { sig, certinfo });
    return certinfo;
  }
}
