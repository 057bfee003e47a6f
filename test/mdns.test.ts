import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { assertMdnsAllowed, inRootNetworkNamespace } from '../src/mdns.js';

describe('mDNS guard', () => {
  it('the test process runs in the root network namespace', () => {
    expect(inRootNetworkNamespace()).toBe(true);
  });

  it('refuses mDNS in the root namespace when STAP_FLEET_FORBID_ROOT_NETNS=1', () => {
    expect(() => assertMdnsAllowed({ STAP_FLEET_FORBID_ROOT_NETNS: '1' })).toThrow(/root network namespace/);
    expect(() => assertMdnsAllowed({})).not.toThrow();
  });

  it('the suite itself sets the guard', () => {
    expect(process.env.STAP_FLEET_FORBID_ROOT_NETNS).toBe('1');
  });

  it('allows mDNS in a network namespace of its own', () => {
    const out = execFileSync(
      'unshare',
      ['--net', process.execPath, '-e', "import('./dist/lib/mdns.js').then(m => { m.assertMdnsAllowed(); console.log('allowed'); })"],
      { env: { ...process.env, STAP_FLEET_FORBID_ROOT_NETNS: '1' }, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('allowed');
  });
});
