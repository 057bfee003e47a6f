/**
 * stap-server start/stop of three conf.d servers: ours vs SystemTap 4.8's /usr/bin/stap-server, in the
 * same run, inside one LAN host namespace (their stap-serverd tries Avahi). Targets (issue 2): start no
 * slower than theirs although ours returns only once the ports listen; stop at most a quarter of theirs.
 */
import { mkdirSync, mkdtempSync, chmodSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { createLan } from '../test/lan/index.js';
import { measurement, median, record, stapServerLogFile } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CLI = resolve(fileURLToPath(new URL('..', import.meta.url)), 'dist/bin/stap-server.js');
const REL = '6.1.0-56-amd64';

interface Side {
  name: string;
  global: string;
  stat: string;
  argv: (action: string) => string[];
  env: Record<string, string>;
}

function makeSide(root: string, name: string, basePort: number, argv: (g: string, action: string) => string[], env: Record<string, string>): Side {
  const dir = join(root, name);
  const confd = join(dir, 'conf.d');
  mkdirSync(confd, { recursive: true });
  const log = stapServerLogFile(dir);
  ['a', 'b', 'c'].forEach((n, i) => writeFileSync(join(confd, `${n}.conf`), `NICKNAME=${n}\nRELEASE=${REL}\nPORT=${basePort + i}\n`));
  const global = join(dir, 'global.conf');
  const stat = join(dir, 'stat');
  writeFileSync(global, `CONFIG_PATH=${confd}\nSTAT_PATH=${stat}\nLOG_FILE=${log}\nSTAP_USER=stap-server\n`);
  return { name, global, stat, argv: (a) => argv(global, a), env };
}

const count = (stat: string): number => {
  try {
    return readdirSync(stat).filter((f) => f.endsWith('.stat')).length;
  } catch {
    return 0;
  }
};

async function main(): Promise<void> {
  const root = mkdtempSync('/tmp/sf-bench-svc-');
  chmodSync(root, 0o755);
  const loadBefore = loadavg()[0]!;
  const lan = await createLan({ hosts: 1, tag: 'sbn' });
  const h1 = lan.hosts[0]!;
  try {
    const ours = makeSide(root, 'ours', 7781, (g, a) => [process.execPath, CLI, a, '-c', g], {
      STAP_SERVER_CONFIG_FILE: '/nonexistent/global',
      STAP_FLEET_AGENT: 'off',
    });
    const theirs = makeSide(root, 'theirs', 7791, (g, a) => ['/usr/bin/stap-server', a, '-c', g], {});
    const times: Record<string, { start: number[]; stop: number[] }> = { ours: { start: [], stop: [] }, theirs: { start: [], stop: [] } };
    const step = async (side: Side, action: string): Promise<number> => {
      const r = await h1.exec(side.argv(action), { env: side.env, timeoutMs: 120_000 });
      if (r.exitCode !== 0) throw new Error(`${side.name} ${action}: rc ${r.exitCode}\n${r.stdout}${r.stderr}`);
      return r.durationMs;
    };
    // Warm-up (certificates generated on first start), then RUNS alternating rounds.
    for (let run = -1; run < RUNS; run++) {
      for (const side of run % 2 ? [ours, theirs] : [theirs, ours]) {
        const start = await step(side, 'start');
        if (count(side.stat) !== 3) throw new Error(`${side.name}: expected 3 servers after start, got ${count(side.stat)}`);
        const stop = await step(side, 'stop');
        if (count(side.stat) !== 0) throw new Error(`${side.name}: servers left after stop`);
        if (run >= 0) {
          times[side.name]!.start.push(start);
          times[side.name]!.stop.push(stop);
        }
        console.error(`${side.name} run ${run}: start ${start.toFixed(0)} ms, stop ${stop.toFixed(0)} ms`);
      }
    }
    const m = [
      measurement({
        name: 'start of 3 conf.d servers (ours returns once the ports listen)',
        ours: median(times.ours!.start),
        baseline: median(times.theirs!.start),
        baselineName: 'SystemTap 4.8 stap-server',
        unit: 'ms',
        target: 'ratio <= 1.0',
        check: (r) => r <= 1.0,
        runs: RUNS,
      }),
      measurement({
        name: 'stop of 3 servers',
        ours: median(times.ours!.stop),
        baseline: median(times.theirs!.stop),
        baselineName: 'SystemTap 4.8 stap-server',
        unit: 'ms',
        target: 'ratio <= 0.25',
        check: (r) => r <= 0.25,
        runs: RUNS,
      }),
    ];
    record(
      'service',
      'stap-server: start and stop of three servers',
      m,
      `Inside one LAN host namespace (no avahi running), conf.d with three files (NICKNAME, RELEASE=${REL}, distinct PORT), -c global config with STAT_PATH/LOG_FILE in a temp dir, STAP_USER=stap-server; medians of ${RUNS} alternating runs after one warm-up; ours with STAP_FLEET_AGENT=off (the agent is measured in its own bench). Times are whole CLI invocations including nsenter. 1-min load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (2 cores shared with other test runs).`,
    );
    for (const x of m) console.error(`${x.name}: ours ${x.ours.toFixed(0)} ms, theirs ${x.baseline.toFixed(0)} ms, ratio ${x.ratio} (${x.met ? 'met' : 'NOT met'})`);
  } finally {
    for (const d of ['ours', 'theirs']) {
      try {
        await h1.exec(d === 'ours' ? [process.execPath, CLI, 'stop', '-c', join(root, d, 'global.conf')] : ['/usr/bin/stap-server', 'stop', '-c', join(root, d, 'global.conf')], {
          env: { STAP_SERVER_CONFIG_FILE: '/nonexistent/global' },
        });
      } catch {
        /* best effort */
      }
    }
    await lan.destroy();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
