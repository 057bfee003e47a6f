/**
 * The hostile/malformed corpus (corpus/*.conf). Each file says where it must fail:
 *   # expect: <line> <fragment of the message>
 *   # kind: global            (optional: parse as the global file instead of a server file)
 *   # live-payload: ...       (optional: real bash sourcing the file would create @MARKER@)
 * @MARKER@ is replaced by a unique /tmp/PWNED-... path per file and run. The parser must fail at
 * that line and no marker may exist afterwards; as a control, real bash does create the marker
 * of every live payload, so the "nothing ran" check is able to fail.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGlobalConfig, loadServerConfig, loadServerConfigs } from '../../../src/local/config/index.js';
import { expectSyntaxError } from './helpers.js';

const corpusDir = join(import.meta.dirname, 'corpus');
const unique = `${process.pid}-${randomBytes(4).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'cfg-corpus-'));
const markers: string[] = [];
afterAll(() => {
  for (const m of markers) rmSync(m, { force: true });
  rmSync(work, { recursive: true, force: true });
});

interface CorpusEntry {
  name: string;
  line: number;
  fragment: string;
  kind: 'server' | 'global';
  live: boolean;
  bytes: Buffer;
}

const entries: CorpusEntry[] = readdirSync(corpusDir)
  .filter((n) => n.endsWith('.conf'))
  .sort()
  .map((name) => {
    const bytes = readFileSync(join(corpusDir, name));
    const text = bytes.toString('latin1');
    const expectation = /^# expect: (\d+) (.+)$/m.exec(text);
    if (!expectation) throw new Error(`${name}: no '# expect: <line> <fragment>' comment`);
    return {
      name,
      line: Number(expectation[1]),
      fragment: expectation[2]!,
      kind: /^# kind: global$/m.test(text) ? 'global' : 'server',
      live: /^# live-payload/m.test(text),
      bytes,
    };
  });

/** Copies a corpus file into `dir` with its own marker path; returns [file, marker]. */
function instantiate(entry: CorpusEntry, dir: string, tag: string): [string, string] {
  const marker = `/tmp/PWNED-${unique}-${tag}-${entry.name.replace(/\.conf$/, '')}`;
  markers.push(marker);
  const file = join(dir, entry.name);
  writeFileSync(file, Buffer.from(entry.bytes.toString('latin1').replaceAll('@MARKER@', marker), 'latin1'));
  return [file, marker];
}

const parserDir = join(work, 'parser');
mkdirSync(parserDir);

describe('hostile and malformed config corpus', () => {
  it('has at least 30 files, a dozen of them live payloads', () => {
    expect(entries.length).toBeGreaterThanOrEqual(30);
    expect(entries.filter((e) => e.live).length).toBeGreaterThanOrEqual(12);
  });

  it.each(entries.map((e) => [e.name, e] as const))('%s fails at its line and runs nothing', (_name, entry) => {
    const [file, marker] = instantiate(entry, parserDir, 'parser');
    const parse =
      entry.kind === 'global' ? () => loadGlobalConfig([{ path: file }]) : () => loadServerConfig(file, { LOG_FILE: '/var/log/stap-server/log' });
    const err = expectSyntaxError(parse, file, entry.line, entry.fragment);
    expect(err.category).toBe('not-configured');
    expect(existsSync(marker)).toBe(false);
  });

  it('loading the whole corpus as CONFIG_PATH fails at the first file in name order', () => {
    const first = entries[0]!;
    expectSyntaxError(() => loadServerConfigs(parserDir, {}), join(parserDir, first.name), first.line, first.fragment);
  });

  it('control: real bash sourcing each live payload does create its marker', () => {
    const bashDir = join(work, 'bash');
    mkdirSync(bashDir);
    const live = entries.filter((e) => e.live);
    const missed: string[] = [];
    for (const entry of live) {
      const [file, marker] = instantiate(entry, bashDir, 'bash');
      try {
        execFileSync('bash', ['--norc', '--noprofile', file], {
          cwd: bashDir,
          env: { PATH: '/usr/bin:/bin', HOME: bashDir },
          stdio: 'ignore',
          timeout: 10_000,
        });
      } catch {
        // Some payloads make bash exit non-zero after running; only the marker matters.
      }
      if (!existsSync(marker)) missed.push(entry.name);
    }
    expect(missed).toEqual([]);
  });

  it('after everything, no parser-run marker exists', () => {
    const leaked = readdirSync('/tmp').filter((n) => n.startsWith(`PWNED-${unique}-parser-`));
    expect(leaked).toEqual([]);
  });
});
