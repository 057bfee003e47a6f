import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory, parseInventory } from '../../src/fleet/targets/inventory.js';
import { resolveTargets } from '../../src/fleet/targets/resolve.js';
import { parseSshConfig } from '../../src/fleet/targets/ssh-config.js';

const TEXT = `# fleet
bastion host=192.0.2.1 port=2200 user=jump
[builders]
b[1-3] user=ops identity=/keys/ops   # three builders
[db]
db1 host=10.0.0.5 proxyjump=bastion
[all]
@builders
@db
`;

describe('inventory', () => {
  it('parses hosts, settings, node-set entries and groups', () => {
    const inv = parseInventory(TEXT, 'fleet.inv');
    expect([...inv.hosts.keys()]).toEqual(['bastion', 'b1', 'b2', 'b3', 'db1']);
    expect(inv.hosts.get('b2')).toMatchObject({ user: 'ops', identityFiles: ['/keys/ops'], groups: ['builders'], line: 4 });
    expect(inv.hosts.get('bastion')).toMatchObject({ hostname: '192.0.2.1', port: 2200, user: 'jump', groups: [] });
    expect(inv.groups.get('all')).toEqual(['@builders', '@db']);
  });
  it('feeds target resolution: @groups, settings, ssh_config fallback', () => {
    const inv = parseInventory(TEXT, 'fleet.inv');
    const ssh = parseSshConfig('Host b*\n  Port 2222\n  User ignored\nHost other\n  HostName 198.51.100.7\n', 'cfg');
    const t = resolveTargets({ expressions: ['@all', 'other'], exclude: ['b2'], inventory: inv, sshConfig: ssh });
    expect(t.map((x) => x.name)).toEqual(['b1', 'b3', 'db1', 'other']);
    expect(t[0]).toMatchObject({ hostname: 'b1', port: 2222, user: 'ops', identityFiles: ['/keys/ops'] });
    expect(t[2]).toMatchObject({ hostname: '10.0.0.5', port: 22, proxyJump: 'bastion' });
    expect(t[3]).toMatchObject({ hostname: '198.51.100.7', port: 22 });
    expect(t.map((x) => x.source)).toEqual(['inventory', 'inventory', 'inventory', 'ssh-config']);
    expect(resolveTargets({ expressions: ['plain'] })[0]).toMatchObject({ name: 'plain', hostname: 'plain', port: 22, source: 'cli' });
  });
  it('reports errors with file:line', () => {
    const bad = (text: string) => () => parseInventory(text, '/etc/f.inv');
    expect(bad('h1\nh2 port=70000')).toThrow('/etc/f.inv:2: bad port \'70000\'');
    expect(bad('h1 colour=red')).toThrow(/f\.inv:1: unknown key 'colour'/);
    expect(bad('h[1-2] host=1.2.3.4')).toThrow(/:1: host= needs a single host name/);
    expect(bad('[bad group]')).toThrow(/:1: bad group name/);
    expect(bad('@g')).toThrow(/:1: group reference '@g' outside a \[group\] section/);
    expect(bad('h1 user')).toThrow(/:1: expected key=value/);
    expect(bad('h[1-')).toThrow(/:1: node set/);
    expect(bad('[a]\n@missing')).toThrow(/references unknown group '@missing'/);
  });
  it('loads from a file and names an unreadable one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inv-'));
    writeFileSync(join(dir, 'ok'), 'h1\n');
    expect(loadInventory(join(dir, 'ok')).hosts.size).toBe(1);
    expect(() => loadInventory(join(dir, 'missing'))).toThrow(/missing:0: cannot read/);
  });
});
