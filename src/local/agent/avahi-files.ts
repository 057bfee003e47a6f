/**
 * Avahi backend: one static service file per advertised service in Avahi's services directory
 * (/etc/avahi/services). avahi-daemon watches that directory (inotify) and publishes, renames on conflicts
 * (`... #2`), withdraws with goodbye packets when a file disappears, and re-reads every file when it restarts, so
 * the host keeps a single mDNS responder and a restart needs nothing from us. Files are written atomically
 * (temp name not ending in .service, then rename) and carry our prefix, so we only ever touch our own.
 */
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, PublishedService } from './backend.js';
import { assignLocalNames, type DesiredService } from './model.js';
import { numberedName } from './names.js';

export const SERVICE_FILE_PREFIX = 'stap-fleet-';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function serviceFileName(key: string): string {
  return `${SERVICE_FILE_PREFIX}${key.replace(/[^A-Za-z0-9._-]/g, '_')}.service`;
}

/** The static service file (avahi.service(5)); no host-name, so Avahi uses its own `<host>.local`. */
export function serviceFileXml(name: string, type: string, port: number, txt: string[]): string {
  return [
    `<?xml version="1.0" standalone='no'?>`,
    `<!DOCTYPE service-group SYSTEM "avahi-service.dtd">`,
    `<!-- written by stap-agent; removed when the service goes away. Do not edit. -->`,
    `<service-group>`,
    `  <name replace-wildcards="no">${escapeXml(name)}</name>`,
    `  <service>`,
    `    <type>${escapeXml(type)}</type>`,
    `    <port>${port}</port>`,
    ...txt.map((t) => `    <txt-record>${escapeXml(t)}</txt-record>`),
    `  </service>`,
    `</service-group>`,
    '',
  ].join('\n');
}

export class AvahiFileBackend implements Backend {
  readonly kind = 'avahi' as const;
  private current = new Map<string, PublishedService & { file: string; xml: string }>();

  constructor(
    readonly dir: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  async apply(desired: DesiredService[]): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const names = assignLocalNames(desired, new Map([...this.current].map(([k, v]) => [k, v.name])), numberedName);
    const next = new Map<string, PublishedService & { file: string; xml: string }>();
    for (const d of desired) {
      const name = names.get(d.key)!;
      const file = join(this.dir, serviceFileName(d.key));
      const xml = serviceFileXml(name, d.type, d.port, d.txt);
      const prev = this.current.get(d.key);
      if (!prev || prev.xml !== xml || !fileHas(file, xml)) {
        const tmp = join(this.dir, `.${SERVICE_FILE_PREFIX}${process.pid}.tmp`);
        writeFileSync(tmp, xml, { mode: 0o644 });
        // avahi-daemon reads it as user avahi: 0644 whatever the umask of whoever started the agent.
        chmodSync(tmp, 0o644);
        // avahi-daemon notices a changed file by its mtime in whole seconds: a second write within the same
        // second would go unnoticed, so every rewrite gets an mtime one second past the previous one.
        const mtime = Math.max(Math.floor(Date.now() / 1000), mtimeSec(file) + 1);
        utimesSync(tmp, mtime, mtime);
        renameSync(tmp, file);
        this.log(`${prev ? 'Updated' : 'Published'} ${d.type} '${name}' port ${d.port} via Avahi (${file})`);
      }
      next.set(d.key, {
        key: d.key,
        type: d.type,
        name,
        port: d.port,
        txt: d.txt,
        serverPid: d.serverPid,
        release: d.release,
        state: 'handed-to-avahi',
        file,
        xml,
      });
    }
    // Remove every file of ours that is no longer wanted (also leftovers of a previous agent).
    const wanted = new Set([...next.values()].map((v) => v.file));
    for (const f of listOurFiles(this.dir)) {
      if (!wanted.has(f)) {
        rmSync(f, { force: true });
        const gone = [...this.current.values()].find((v) => v.file === f);
        this.log(`Withdrew ${gone ? `${gone.type} '${gone.name}'` : f} via Avahi`);
      }
    }
    this.current = next;
  }

  snapshot(): PublishedService[] {
    return [...this.current.values()].map(({ file: _f, xml: _x, ...p }) => p);
  }

  async close(): Promise<void> {
    for (const f of listOurFiles(this.dir)) rmSync(f, { force: true });
    this.current.clear();
  }
}

function mtimeSec(file: string): number {
  try {
    return Math.floor(statSync(file).mtimeMs / 1000);
  } catch {
    return 0;
  }
}

function fileHas(file: string, xml: string): boolean {
  try {
    return readFileSync(file, 'utf8') === xml;
  } catch {
    return false;
  }
}

export function listOurFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.startsWith(SERVICE_FILE_PREFIX) && n.endsWith('.service'))
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}
