/**
 * The corpus through the real `stap-server` CLI (dist/bin/stap-server.js, built by global setup):
 * every hostile file makes it exit 6 (LSB "not configured") with `file:line:` on stderr, and no
 * payload marker appears.
 *  - as the -c global file: `stap-server status -c FILE` (the default file is pointed elsewhere;
 *    files marked `# global-ok` are valid global files and skipped there);
 *  - as a conf.d file: a -c file sets CONFIG_PATH to a directory holding only it, and
 *    `status -n NAME` must consult conf.d for NAME (no server runs in the private STAT_PATH).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, '../../../dist/bin/stap-server.js');
const corpusDir = join(import.meta.dirname, 'corpus');
const unique = `${process.pid}-${randomBytes(4).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'cfg-cli-'));
const markers: string[] = [];

interface Case {
  name: string;
  line: number;
  fragment: string;
  kind: 'server' | 'global';
  /** `# global-ok`: the file is a valid global file (fails only as a server file). */
  globalOk: boolean;
  bytes: Buffer;
}

const cases: Case[] = readdirSync(corpusDir)
  .filter((n) => n.endsWith('.conf'))
  .sort()
  .map((name) => {
    const bytes = readFileSync(join(corpusDir, name));
    const text = bytes.toString('latin1');
    const m = /^# expect: (\d+) (.+)$/m.exec(text)!;
    return { name, line: Number(m[1]), fragment: m[2]!, kind: /^# kind: global$/m.test(text) ? 'global' : 'server', globalOk: /^# global-ok/m.test(text), bytes };
  });

function instantiate(c: Case, dir: string, tag: string): [string, string] {
  mkdirSync(dir, { recursive: true });
  const marker = `/tmp/PWNED-${unique}-${tag}-${c.name.replace(/\.conf$/, '')}`;
  markers.push(marker);
  const file = join(dir, c.name);
  writeFileSync(file, Buffer.from(c.bytes.toString('latin1').replaceAll('@MARKER@', marker), 'latin1'));
  return [file, marker];
}

interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function stapServer(args: string[]): Promise<CliResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    STAP_SERVER_CONFIG_FILE: join(work, 'no-default-global'),
    STAP_FLEET_AGENT: 'off',
    NO_COLOR: '1',
  };
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env, timeout: 30_000 });
    return { exitCode: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs jobs two at a time (the machine has two cores shared with other suites). */
async function inPairs<T, R>(items: T[], job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await job(items[i]!);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

afterAll(() => {
  for (const m of markers) rmSync(m, { force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('hostile configs through the real stap-server CLI', () => {
  beforeAll(() => {
    expect(existsSync(cli), `${cli} must be built`).toBe(true);
  });

  it('a good -c file works (the harness itself is sound)', async () => {
    const g = join(work, 'good-global');
    writeFileSync(g, `CONFIG_PATH=${work}/good.d\nSTAT_PATH=${work}/good-stat\nLOG_FILE=${work}/good.log\n`);
    const r = await stapServer(['status', '-c', g]);
    expect(r.stderr).not.toMatch(/:\d+: /);
    expect(r.exitCode).toBe(3); // LSB: no server running
  });

  it('every corpus file as the -c global file: exit 6, file:line on stderr, nothing ran', async () => {
    const asGlobal = cases.filter((c) => !c.globalOk);
    expect(asGlobal.length).toBeGreaterThanOrEqual(cases.length - 1);
    const results = await inPairs(asGlobal, async (c) => {
      const [file, marker] = instantiate(c, join(work, 'as-global'), 'cli-global');
      const r = await stapServer(['status', '-c', file]);
      return { c, file, marker, r };
    });
    for (const { c, file, marker, r } of results) {
      expect(r.exitCode, `${c.name}: ${r.stderr}`).toBe(6);
      expect(r.stderr, c.name).toMatch(new RegExp(`${escape(file)}:\\d+: `));
      if (c.kind === 'global') expect(r.stderr, c.name).toContain(`${file}:${c.line}: `);
      if (c.kind === 'global') expect(r.stderr, c.name).toContain(c.fragment);
      expect(existsSync(marker), `${c.name} ran its payload`).toBe(false);
    }
  });

  it('every server corpus file in CONFIG_PATH: status -n exits 6 naming its exact line, nothing ran', async () => {
    const serverCases = cases.filter((c) => c.kind === 'server');
    expect(serverCases.length).toBeGreaterThanOrEqual(30);
    const results = await inPairs(serverCases, async (c) => {
      const base = join(work, 'as-confd', c.name.replace(/\.conf$/, ''));
      const [file, marker] = instantiate(c, join(base, 'conf.d'), 'cli-confd');
      const global = join(base, 'global');
      writeFileSync(global, `CONFIG_PATH=${base}/conf.d\nSTAT_PATH=${base}/stat\nLOG_FILE=${base}/log\n`);
      const r = await stapServer(['status', '-c', global, '-n', 'corpus-probe']);
      return { c, file, marker, r };
    });
    for (const { c, file, marker, r } of results) {
      expect(r.exitCode, `${c.name}: ${r.stderr}`).toBe(6);
      expect(r.stderr, c.name).toContain(`${file}:${c.line}: `);
      expect(r.stderr, c.name).toContain(c.fragment);
      expect(existsSync(marker), `${c.name} ran its payload`).toBe(false);
    }
  });

  it('no marker of any CLI run exists', () => {
    expect(readdirSync('/tmp').filter((n) => n.startsWith(`PWNED-${unique}-`))).toEqual([]);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
