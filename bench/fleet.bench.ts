/**
 * stap-fleet against the incumbent parallel shells, in the same run on the same LAN (baselines.md section 3):
 * wall time of `stap-fleet status` over 1, 10 and 50 hosts versus `pdsh -R ssh` and `clush` running
 * `stap-server status` on the same hosts, and mDNS discovery of 50 agents (`stap-fleet status --mdns-only`)
 * versus `avahi-browse -rpt _stap-agent._tcp`. Controller in h1, targets h2..h51; SSH user `bench` with
 * /bin/sh (root's .bashrc is slow); every tool verifies host keys against the same known_hosts file.
 * Times come from hyperfine (5 runs + 1 warm-up) run inside h1. Nothing multicasts from the root namespace.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLan, type LanHost } from '../test/lan/index.js';
import { measurement, record, sshdOnHosts, type Measurement } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
// A private copy of dist/ (world-readable, for the bench user): the shared tree may be rebuilt mid-run.
const SNAP = mkdtempSync(join(tmpdir(), 'fleet-bench-dist-'));
chmodSync(SNAP, 0o755);
cpSync(join(ROOT, 'dist'), join(SNAP, 'dist'), { recursive: true });
cpSync(join(ROOT, 'package.json'), join(SNAP, 'package.json'));
symlinkSync(join(ROOT, 'node_modules'), join(SNAP, 'node_modules'));
const FLEET = join(SNAP, 'dist/bin/stap-fleet.js');
const STAP_SERVER = join(SNAP, 'dist/bin/stap-server.js');
const AGENT = join(SNAP, 'dist/bin/stap-agent.js');
const USER = 'bench';
const SIZES = [1, 10, 50];

function ensureBenchUser(): void {
  try {
    execFileSync('id', [USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', USER]);
  }
  execFileSync('usermod', ['-p', '*', USER]); // a new account is locked; sshd with UsePAM no refuses it
}

interface HyperfineResult { results: { command: string; median: number; min: number; max: number; times: number[] }[] }

async function hyperfine(h1: LanHost, dir: string, name: string, commands: Record<string, string>): Promise<Record<string, { median: number; min: number; max: number }>> {
  const out = join(dir, `${name}.json`);
  const args = ['hyperfine', '--runs', String(RUNS), '--warmup', '1', '-i', '--style', 'none', '--export-json', out];
  for (const [label, cmd] of Object.entries(commands)) args.push('-n', label, cmd);
  const r = await h1.exec(args, { timeoutMs: 900_000 });
  if (r.exitCode !== 0) throw new Error(`hyperfine ${name}: ${r.stderr}`);
  const res = JSON.parse(readFileSync(out, 'utf8')) as HyperfineResult;
  return Object.fromEntries(res.results.map((x) => [x.command, { median: x.median * 1000, min: x.min * 1000, max: x.max * 1000 }]));
}

async function main(): Promise<void> {
  ensureBenchUser();
  const lan = await createLan({ hosts: 51, tag: 'fbch' });
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  chmodSync(dir, 0o755);
  try {
    const [h1, ...targets] = lan.hosts as [LanHost, ...LanHost[]];
    const { knownHosts: kh } = await sshdOnHosts(targets, dir);
    // The agents advertise every target (embedded responder: no avahi on the targets); h1 runs avahi for avahi-browse.
    await h1.startAvahi();
    for (let i = 0; i < targets.length; i += 10) {
      await Promise.all(targets.slice(i, i + 10).map((h) => h.exec(['node', AGENT, 'start', '--backend', 'embedded'], { timeoutMs: 60_000 })));
    }
    await new Promise((r) => setTimeout(r, 3000)); // probing + announcements

    const remote = `node ${STAP_SERVER} status`;
    const sshOpts = `-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${kh} -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes -i ${join(dir, 'id')}`;
    const nodes = (n: number) => `${lan.subnet}.[2-${n + 1}]`;
    const fleetCmd = (n: number) =>
      `node ${FLEET} status -l ${USER} --identity ${join(dir, 'id')} --known-hosts ${kh} --global-known-hosts /dev/null -F /dev/null --remote-command 'node ${STAP_SERVER}' --json '${nodes(n)}' >/dev/null`;
    const pdshCmd = (n: number) => `PDSH_SSH_ARGS='${sshOpts} -l%u %h' pdsh -S -R ssh -l ${USER} -w '${nodes(n)}' '${remote}'`;
    const clushCmd = (n: number) => `clush --maxrc -l ${USER} -o '${sshOpts}' -w '${nodes(n)}' '${remote}'`;

    // Correctness once per tool at 50 hosts: every host answered.
    const check = await h1.exec(['sh', '-c', fleetCmd(50).replace(' >/dev/null', '')], { timeoutMs: 120_000 });
    const doc = JSON.parse(check.stdout) as { hosts: { category: string }[]; summary: { ok: number } };
    if (doc.summary.ok !== 50) throw new Error(`stap-fleet status reached ${doc.summary.ok}/50 hosts: ${check.stdout.slice(0, 2000)}`);
    for (const [name, cmd] of [['pdsh', pdshCmd(50)], ['clush', clushCmd(50)]] as const) {
      const r = await h1.exec(['sh', '-c', cmd], { timeoutMs: 120_000 });
      const hosts = new Set(r.stdout.split('\n').map((l) => l.split(':')[0]).filter(Boolean));
      if (hosts.size !== 50) throw new Error(`${name} answered from ${hosts.size}/50 hosts: ${r.stderr.slice(0, 2000)}`);
    }

    const fig: Record<string, Record<number, number>> = { ours: {}, pdsh: {}, clush: {} };
    const notes: string[] = [];
    for (const n of SIZES) {
      const r = await hyperfine(h1, dir, `status-${n}`, { ours: fleetCmd(n), pdsh: pdshCmd(n), clush: clushCmd(n) });
      for (const k of ['ours', 'pdsh', 'clush']) {
        fig[k]![n] = r[k]!.median;
        notes.push(`${k}@${n}: ${Math.round(r[k]!.median)} (${Math.round(r[k]!.min)}-${Math.round(r[k]!.max)})`);
      }
      console.error(`status over ${n} hosts: ours ${Math.round(r.ours!.median)} ms, pdsh ${Math.round(r.pdsh!.median)} ms, clush ${Math.round(r.clush!.median)} ms`);
    }

    // The same fan-out with a constant-cost remote command (cat of a stored status document): isolates the
    // controller's scaling from the 50 remote node processes competing for the same 2 cores.
    const doc0 = join(dir, 'status.json');
    writeFileSync(doc0, JSON.stringify({ servers: [], exitCode: 3 }));
    chmodSync(doc0, 0o644);
    const catCmd = (n: number) => fleetCmd(n).replace(`--remote-command 'node ${STAP_SERVER}'`, `--remote-command 'cat ${doc0} #'`);
    const cheap = await hyperfine(h1, dir, 'status-cat', { one: catCmd(1), fifty: catCmd(50) });
    console.error(`status with a constant-cost remote command: 1 host ${Math.round(cheap.one!.median)} ms, 50 hosts ${Math.round(cheap.fifty!.median)} ms`);

    // Discovery of the 50 agents: both must see all 50.
    const mdnsOurs = `node ${FLEET} status --mdns-only --json -i /dev/null -F /dev/null >/dev/null`;
    const mdnsAvahi = `avahi-browse -rpt _stap-agent._tcp >/dev/null`;
    const seenOurs = JSON.parse((await h1.exec(['sh', '-c', mdnsOurs.replace(' >/dev/null', '')])).stdout) as { hosts: { agent: unknown }[] };
    const oursAgents = seenOurs.hosts.filter((h) => h.agent).length;
    const seenAvahi = (await h1.exec(['avahi-browse', '-rpt', '_stap-agent._tcp'])).stdout.split('\n').filter((l) => l.startsWith('=')).length;
    if (oursAgents !== 50 || seenAvahi < 50) throw new Error(`discovery saw ${oursAgents} (ours) / ${seenAvahi} (avahi-browse) of 50 agents`);
    const d = await hyperfine(h1, dir, 'mdns', { ours: mdnsOurs, avahi: mdnsAvahi });
    console.error(`discovery of 50 agents: ours ${Math.round(d.ours!.median)} ms, avahi-browse -rpt ${Math.round(d.avahi!.median)} ms`);

    const ms: Measurement[] = [];
    for (const n of SIZES) {
      for (const base of ['pdsh', 'clush'] as const) {
        ms.push(
          measurement({
            name: `stap-fleet status, ${n} host${n > 1 ? 's' : ''}, vs ${base}`,
            ours: fig.ours![n]!,
            baseline: fig[base]![n]!,
            baselineName: base === 'pdsh' ? 'pdsh -S -R ssh (fanout 32)' : 'clush --maxrc (fanout 64)',
            unit: 'ms',
            target: n === 50 ? 'ratio < 1.0' : 'informational (target is at 50 hosts)',
            check: (x) => (n === 50 ? x < 1 : true),
            runs: RUNS,
          }),
        );
      }
    }
    ms.push(
      measurement({
        name: 'stap-fleet status scaling: 50 hosts vs 1 host',
        ours: fig.ours![50]!,
        baseline: fig.ours![1]!,
        baselineName: 'stap-fleet status, 1 host',
        unit: 'ms',
        target: 'ratio <= 1.5',
        check: (x) => x <= 1.5,
        runs: RUNS,
        notes: `same scaling for pdsh ${(fig.pdsh![50]! / fig.pdsh![1]!).toFixed(2)}x, clush ${(fig.clush![50]! / fig.clush![1]!).toFixed(2)}x`,
      }),
      measurement({
        name: 'stap-fleet status scaling with a constant-cost remote command (cat): 50 hosts vs 1 host',
        ours: cheap.fifty!.median,
        baseline: cheap.one!.median,
        baselineName: 'same, 1 host',
        unit: 'ms',
        target: 'informational: the controller without the remote node processes',
        check: () => true,
        runs: RUNS,
      }),
      measurement({
        name: 'mDNS discovery of 50 agents (stap-fleet status --mdns-only)',
        ours: d.ours!.median,
        baseline: d.avahi!.median,
        baselineName: 'avahi-browse -rpt _stap-agent._tcp',
        unit: 'ms',
        target: 'ratio <= 1.0',
        check: (x) => x <= 1,
        runs: RUNS,
      }),
    );
    record(
      'fleet',
      'stap-fleet: status over SSH and mDNS discovery',
      ms,
      `Controller h1, targets h2..h51 of one LAN on the same 2 cores (every remote \`node stap-server.js status\` runs on them too); sshd per host (harness config), user ${USER} with /bin/sh, host keys verified from one known_hosts by every tool; hyperfine ${RUNS} runs + 1 warm-up, medians in ms. Raw: ${notes.join('; ')}.`,
    );
    console.error(JSON.stringify(ms, null, 2));
  } finally {
    await lan.destroy();
    rmSync(dir, { recursive: true, force: true });
    rmSync(SNAP, { recursive: true, force: true });
  }
}

await main();
