/**
 * Embedded backend: bonjour-service's mDNS responder (its Server answers queries from a record registry over
 * multicast-dns) when no avahi-daemon runs on the host.
 *
 * We use bonjour-service's responder but manage the records ourselves, because its Registry is unsafe with several
 * services: unpublishing one removes every record with the same *name* (all `_stap._tcp.local` PTRs and the host's
 * A records) and says goodbye for the host's address; on a name conflict it only logs and gives up. Here each
 * service owns exactly its PTR/SRV/TXT records, the host A records and the type PTR are shared, a probe (RFC 6762
 * 8.1: three queries 250 ms apart) precedes every announcement, a conflict renames the service (`... #2`), and
 * withdrawal sends goodbyes (TTL 0) for that service's records only.
 */
import type { Bonjour } from 'bonjour-service';
import { openBonjour } from '../../mdns.js';
import { networkInterfaces } from 'node:os';
import { StapFleetError } from '../../errors.js';
import type { Backend, PublishedService } from './backend.js';
import { assignLocalNames, type DesiredService } from './model.js';
import { numberedName } from './names.js';

interface MdnsRecord {
  name: string;
  type: string;
  ttl?: number;
  flush?: boolean;
  class?: string;
  data: unknown;
}
interface MdnsPacket {
  answers?: MdnsRecord[];
  additionals?: MdnsRecord[];
}
interface MdnsSocket {
  query(q: { questions: { name: string; type: string }[] }, cb?: (err?: Error) => void): void;
  respond(r: { answers: MdnsRecord[]; additionals?: MdnsRecord[] }, cb?: (err?: Error) => void): void;
  on(ev: string, fn: (...args: never[]) => void): void;
  removeListener(ev: string, fn: (...args: never[]) => void): void;
}
interface ResponderServer {
  registry: Record<string, MdnsRecord[]>;
  mdns: MdnsSocket;
}

interface Responder {
  bonjour: Bonjour;
  server: ResponderServer;
  /** IPv4 addresses this responder advertises for the host name. */
  addresses: string[];
  hostRecords: MdnsRecord[];
}

interface Entry {
  desired: DesiredService;
  name: string;
  renamedFrom?: string;
  state: 'probing' | 'announced';
  records: MdnsRecord[];
  /** Cancels an ongoing probe or announcement schedule. */
  generation: number;
}

const TTL_HOST = 120;
const TTL_OTHER = 4500;

export interface EmbeddedOptions {
  hostname: string;
  /** Interface names or IPv4 addresses; empty = every non-internal IPv4 interface through one socket. */
  interfaces: string[];
  log?: (msg: string) => void;
  /** Called when a background step (probe done, rename) changed the snapshot. */
  onChange?: () => void;
  /** Probe before announcing (default true; off only in unit tests). */
  probe?: boolean;
}

/** DNS labels cannot hold '.', so an instance name keeps dots out (bonjour-service does the same). */
export function instanceLabel(name: string): string {
  return name.split('.').join('-');
}

export function resolveInterfaces(spec: string[]): { name: string; address: string }[] {
  const nets = networkInterfaces();
  const out: { name: string; address: string }[] = [];
  for (const want of spec) {
    let found = false;
    for (const [name, addrs] of Object.entries(nets)) {
      for (const a of addrs ?? []) {
        if (a.family !== 'IPv4') continue;
        if (name === want || a.address === want) {
          out.push({ name, address: a.address });
          found = true;
          break;
        }
      }
    }
    if (!found) throw new StapFleetError('SF_AGENT_INTERFACE', { detail: `interface '${want}' has no IPv4 address on this host` });
  }
  return out;
}

function allIPv4(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

export class EmbeddedBackend implements Backend {
  readonly kind = 'embedded' as const;
  private readonly responders: Responder[] = [];
  private readonly entries = new Map<string, Entry>();
  private readonly host: string;
  private readonly typePtrs = new Map<string, MdnsRecord>();
  private closed = false;
  private readonly onResponse = (packet: MdnsPacket, rinfo: { address: string }): void => this.checkConflict(packet, rinfo);

  constructor(private readonly opts: EmbeddedOptions) {
    this.host = `${opts.hostname}.local`;
    const ifaces = opts.interfaces.length ? resolveInterfaces(opts.interfaces) : [];
    const targets = ifaces.length ? ifaces.map((i) => ({ mdnsOpts: { interface: i.address, bind: '0.0.0.0' }, addresses: [i.address] })) : [{ mdnsOpts: {}, addresses: allIPv4() }];
    for (const t of targets) {
      const bonjour = openBonjour(t.mdnsOpts as never, (err: Error) => this.log(`mDNS error: ${err.message}`));
      const server = (bonjour as unknown as { server: ResponderServer }).server;
      server.mdns.on('error', ((err: Error) => this.log(`mDNS socket error: ${err.message}`)) as never);
      server.mdns.on('warning', ((err: Error) => this.log(`mDNS warning: ${err.message}`)) as never);
      server.mdns.on('response', this.onResponse as never);
      const hostRecords = t.addresses.map((ip): MdnsRecord => ({ name: this.host, type: 'A', ttl: TTL_HOST, flush: true, data: ip }));
      for (const r of hostRecords) this.register(server, r);
      this.responders.push({ bonjour, server, addresses: t.addresses, hostRecords });
    }
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  private register(server: ResponderServer, rec: MdnsRecord): void {
    (server.registry[rec.type] ??= []).push(rec);
  }

  private unregister(server: ResponderServer, rec: MdnsRecord): void {
    const list = server.registry[rec.type];
    if (list) server.registry[rec.type] = list.filter((r) => r !== rec);
  }

  private fqdn(name: string, type: string): string {
    return `${instanceLabel(name)}.${type}.local`;
  }

  private buildRecords(name: string, d: DesiredService): MdnsRecord[] {
    const fqdn = this.fqdn(name, d.type);
    return [
      { name: `${d.type}.local`, type: 'PTR', ttl: TTL_OTHER, data: fqdn },
      { name: fqdn, type: 'SRV', ttl: TTL_HOST, flush: true, data: { port: d.port, target: this.host, priority: 0, weight: 0 } },
      { name: fqdn, type: 'TXT', ttl: TTL_OTHER, flush: true, data: d.txt.map((t) => Buffer.from(t, 'utf8')) },
    ];
  }

  async apply(desired: DesiredService[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Set(desired.map((d) => d.key));
    for (const [key, e] of [...this.entries]) {
      if (!wanted.has(key)) this.withdraw(e, true);
    }
    const names = assignLocalNames(desired, new Map([...this.entries].map(([k, v]) => [k, v.name])), (b, n) => numberedName(b, n));
    for (const d of desired) {
      const e = this.entries.get(d.key);
      if (!e) {
        this.start(d, names.get(d.key)!);
      } else if (e.desired.port !== d.port || e.desired.txt.join('\u0000') !== d.txt.join('\u0000')) {
        // Changed TXT (certificate) or port: re-announce with cache-flush so peers replace the old rdata.
        e.desired = d;
        if (e.state === 'announced') {
          const old = e.records;
          e.records = this.buildRecords(e.name, d);
          for (const r of this.responders) {
            for (const rec of old) this.unregister(r.server, rec);
            for (const rec of e.records) this.register(r.server, rec);
          }
          this.log(`Updated ${d.type} '${e.name}' (port ${d.port}, ${d.txt.join(' ')})`);
          this.announce(e);
        }
      }
    }
  }

  private start(d: DesiredService, name: string, renamedFrom?: string): void {
    const e: Entry = { desired: d, name, renamedFrom, state: 'probing', records: [], generation: 0 };
    this.entries.set(d.key, e);
    void this.probeAndAnnounce(e);
  }

  private async probeAndAnnounce(e: Entry): Promise<void> {
    const gen = ++e.generation;
    for (let attempt = 0; attempt < 50; attempt++) {
      const pt0 = Date.now();
      const conflict = this.opts.probe === false ? false : await this.probe(this.fqdn(e.name, e.desired.type));
      if (process.env.STAP_AGENT_DEBUG) this.log(`probe ${e.name} took ${Date.now() - pt0} ms conflict=${conflict}`);
      if (this.closed || e.generation !== gen || this.entries.get(e.desired.key) !== e) return;
      if (!conflict) break;
      this.rename(e);
    }
    e.records = this.buildRecords(e.name, e.desired);
    for (const r of this.responders) for (const rec of e.records) this.register(r.server, rec);
    this.ensureTypePtr(e.desired.type);
    e.state = 'announced';
    this.log(`Published ${e.desired.type} '${e.name}' port ${e.desired.port} (embedded responder)`);
    this.announce(e);
    this.opts.onChange?.();
  }

  /** Picks the next free `base #n` (locally unused), remembering the original name. */
  private rename(e: Entry): void {
    const used = new Set([...this.entries.values()].filter((x) => x !== e && x.desired.type === e.desired.type).map((x) => x.name.toLowerCase()));
    const current = /#(\d+)$/.exec(e.name);
    let n = current ? Number(current[1]) + 1 : 2;
    let name = numberedName(e.desired.baseName, n);
    while (used.has(name.toLowerCase())) name = numberedName(e.desired.baseName, ++n);
    this.log(`Name conflict for '${e.name}' (${e.desired.type}), renaming to '${name}'`);
    e.renamedFrom ??= e.name;
    e.name = name;
  }

  private ensureTypePtr(type: string): void {
    if (this.typePtrs.has(type)) return;
    const rec: MdnsRecord = { name: '_services._dns-sd._udp.local', type: 'PTR', ttl: TTL_OTHER, data: `${type}.local` };
    this.typePtrs.set(type, rec);
    for (const r of this.responders) this.register(r.server, rec);
  }

  /** Unsolicited announcements: now and 1 s later (RFC 6762 8.3 asks for at least two). */
  private announce(e: Entry): void {
    const gen = e.generation;
    const send = (): void => {
      if (this.closed || e.generation !== gen || this.entries.get(e.desired.key) !== e) return;
      for (const r of this.responders) r.server.mdns.respond({ answers: e.records, additionals: r.hostRecords });
    };
    send();
    setTimeout(send, 1000).unref();
  }

  private withdraw(e: Entry, goodbye: boolean): void {
    e.generation++;
    this.entries.delete(e.desired.key);
    if (e.state !== 'announced') return;
    for (const r of this.responders) {
      for (const rec of e.records) this.unregister(r.server, rec);
      if (goodbye) r.server.mdns.respond({ answers: e.records.map((rec) => ({ ...rec, ttl: 0 })) });
    }
    this.log(`Withdrew ${e.desired.type} '${e.name}' (embedded responder)`);
  }

  /** True when another responder answers for fqdn within three probes 250 ms apart. */
  private probe(fqdn: string): Promise<boolean> {
    const lower = fqdn.toLowerCase();
    return new Promise((resolve) => {
      let done = false;
      const timers: NodeJS.Timeout[] = [];
      const onResponse = (packet: MdnsPacket): void => {
        const rrs = [...(packet.answers ?? []), ...(packet.additionals ?? [])];
        if (rrs.some((rr) => rr.name.toLowerCase() === lower && rr.type !== 'PTR' && rr.ttl !== 0)) finish(true);
      };
      const finish = (conflict: boolean): void => {
        if (done) return;
        done = true;
        for (const t of timers) clearTimeout(t);
        for (const r of this.responders) r.server.mdns.removeListener('response', onResponse as never);
        resolve(conflict);
      };
      for (const r of this.responders) r.server.mdns.on('response', onResponse as never);
      for (let i = 0; i < 3; i++) {
        timers.push(
          setTimeout(() => {
            for (const r of this.responders) r.server.mdns.query({ questions: [{ name: fqdn, type: 'ANY' }] });
          }, i * 250),
        );
      }
      timers.push(setTimeout(() => finish(false), 750));
    });
  }

  /** After announcement: another host claiming one of our names with different data makes us rename. */
  private checkConflict(packet: MdnsPacket, rinfo: { address: string }): void {
    if (this.closed) return;
    if (this.responders.some((r) => r.addresses.includes(rinfo.address))) return;
    for (const rr of packet.answers ?? []) {
      if (rr.type !== 'SRV' || rr.ttl === 0) continue;
      const target = (rr.data as { target?: string }).target?.toLowerCase();
      for (const e of this.entries.values()) {
        if (e.state !== 'announced' || rr.name.toLowerCase() !== this.fqdn(e.name, e.desired.type).toLowerCase()) continue;
        if (target === this.host.toLowerCase()) continue;
        // Lost the name: drop our records without goodbye (that would flush the winner's), rename, re-probe.
        for (const r of this.responders) for (const rec of e.records) this.unregister(r.server, rec);
        e.state = 'probing';
        this.rename(e);
        void this.probeAndAnnounce(e);
        this.opts.onChange?.();
      }
    }
  }

  snapshot(): PublishedService[] {
    return [...this.entries.values()].map((e) => ({
      key: e.desired.key,
      type: e.desired.type,
      name: e.name,
      port: e.desired.port,
      txt: e.desired.txt,
      serverPid: e.desired.serverPid,
      release: e.desired.release,
      state: e.state,
      ...(e.renamedFrom ? { renamedFrom: e.renamedFrom } : {}),
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const goodbyes: MdnsRecord[] = [];
    for (const e of this.entries.values()) if (e.state === 'announced') goodbyes.push(...e.records);
    for (const rec of this.typePtrs.values()) goodbyes.push(rec);
    this.entries.clear();
    this.closed = true;
    await Promise.all(
      this.responders.map(
        (r) =>
          new Promise<void>((resolve) => {
            const finish = (): void => r.bonjour.destroy(() => resolve());
            if (goodbyes.length === 0) return finish();
            r.server.mdns.respond({ answers: [...goodbyes, ...r.hostRecords].map((rec) => ({ ...rec, ttl: 0 })) }, () => finish());
          }),
      ),
    );
  }
}
