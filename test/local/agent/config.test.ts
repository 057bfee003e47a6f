import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configuredStatPath } from '../../../src/local/agent/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the agent finds STAT_PATH where the service does', () => {
  it('reads STAT_PATH from the global config file named by STAP_SERVER_CONFIG_FILE', () => {
    const file = join(dir, 'stap-server');
    writeFileSync(file, 'STAT_PATH=/srv/stap/stat   # comment\n');
    expect(configuredStatPath({ STAP_SERVER_CONFIG_FILE: file })).toBe('/srv/stap/stat');
  });

  it('falls back to /var/run/stap-server without a file', () => {
    expect(configuredStatPath({ STAP_SERVER_CONFIG_FILE: join(dir, 'missing') })).toBe('/var/run/stap-server');
  });

  it('rejects a malformed file with file:line instead of guessing', () => {
    const file = join(dir, 'bad');
    writeFileSync(file, '\nSTAT_PATH=$(touch /tmp/x)\n');
    expect(() => configuredStatPath({ STAP_SERVER_CONFIG_FILE: file })).toThrow(`${file}:2:`);
  });
});
