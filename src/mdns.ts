/**
 * The one place that opens an mDNS socket (bonjour-service). It refuses to do so in the machine's
 * root network namespace when STAP_FLEET_FORBID_ROOT_NETNS=1, which the test suite, benchmarks and
 * demo set: on shared machines nothing of ours may multicast from the root namespace, and this makes
 * a forgotten test setting fail loudly instead of sending packets.
 */
import { readlinkSync } from 'node:fs';
import { Bonjour } from 'bonjour-service';
import { StapFleetError } from './errors.js';

type BonjourOptions = ConstructorParameters<typeof Bonjour>[0];

/** The kernel's initial network namespace always has this inode (PROC_NET_INIT_INO). */
const INIT_NET_NS = 'net:[4026531833]';

export function inRootNetworkNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/net') === INIT_NET_NS;
  } catch {
    return false; // no /proc: cannot tell, so do not block
  }
}

export function assertMdnsAllowed(env: NodeJS.ProcessEnv = process.env): void {
  if (env.STAP_FLEET_FORBID_ROOT_NETNS === '1' && inRootNetworkNamespace()) {
    throw new StapFleetError('SF_MDNS_FORBIDDEN', {});
  }
}

export function openBonjour(opts: BonjourOptions, onError: (err: Error) => void): Bonjour {
  assertMdnsAllowed();
  return new Bonjour(opts, onError);
}
