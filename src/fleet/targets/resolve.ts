/**
 * Turns what the user asked for into HostTargets. Sources, merged by host name:
 * - node-set expressions on the command line (`h[1-5]`, `@group`, `!h3`, plus `-x` exclusions);
 * - the inventory file (settings and @groups);
 * - ~/.ssh/config (HostName/User/Port/IdentityFile/ProxyJump per name; all its Host names with --ssh-config-hosts);
 * - mDNS discovery (agents and servers; their addresses and the agent's SSH port).
 * Without expressions every inventory host and every discovered host is a target.
 * Precedence for a setting: command line (user/port options) > inventory > ssh_config > mDNS > defaults.
 */
import { StapFleetError } from '../../errors.js';
import type { HostTarget, TargetSource } from '../transport/types.js';
import type { DiscoveredHost } from './discovery.js';
import type { Inventory } from './inventory.js';
import { inventoryGroups } from './inventory.js';
import { expandNodeSet } from './nodeset.js';
import type { SshConfigFile } from './ssh-config.js';

export interface ResolveInput {
  expressions: string[];
  exclude?: string[];
  inventory?: Inventory;
  sshConfig?: SshConfigFile;
  /** Add every concrete Host name of the ssh config as a target. */
  sshConfigHosts?: boolean;
  discovered?: DiscoveredHost[];
  /** Overrides from the command line. */
  user?: string;
  port?: number;
  identityFiles?: string[];
}

export function resolveTargets(input: ResolveInput): HostTarget[] {
  const discovered = new Map((input.discovered ?? []).map((h) => [h.name, h]));
  const groups = inventoryGroups(input.inventory);
  const sources = new Map<string, TargetSource>();
  let names: string[];
  if (input.expressions.length) {
    names = expandNodeSet(input.expressions, { groups, exclude: input.exclude });
    for (const n of names) sources.set(n, 'cli');
  } else {
    const all: string[] = [];
    for (const n of input.inventory?.hosts.keys() ?? []) {
      all.push(n);
      sources.set(n, 'inventory');
    }
    if (input.sshConfigHosts) {
      for (const n of input.sshConfig?.hostNames() ?? []) if (!sources.has(n)) {
        all.push(n);
        sources.set(n, 'ssh-config');
      }
    }
    for (const n of discovered.keys()) if (!sources.has(n)) {
      all.push(n);
      sources.set(n, 'mdns');
    }
    const excluded = new Set(input.exclude?.length ? expandNodeSet(input.exclude, { groups }) : []);
    names = all.filter((n) => !excluded.has(n));
  }
  if (input.expressions.length && names.length === 0) {
    throw new StapFleetError('SF_TARGETS', { detail: `the node set '${input.expressions.join(' ')}' selects no host` });
  }
  return names.map((name) => buildTarget(name, sources.get(name) ?? 'cli', input, discovered.get(name)));
}

function buildTarget(name: string, source: TargetSource, input: ResolveInput, disc: DiscoveredHost | undefined): HostTarget {
  const inv = input.inventory?.hosts.get(name);
  const ssh = input.sshConfig?.settingsFor(inv?.hostname ?? name);
  const mdnsAddress = disc?.addresses[0];
  const identityFiles = input.identityFiles?.length ? input.identityFiles : inv?.identityFiles ?? (ssh?.identityFiles?.length ? ssh.identityFiles : undefined);
  const target: HostTarget = {
    name,
    hostname: inv?.hostname ?? ssh?.hostname ?? mdnsAddress ?? name,
    port: input.port ?? inv?.port ?? ssh?.port ?? disc?.sshPort ?? 22,
    user: input.user ?? inv?.user ?? ssh?.user,
    identityFiles,
    identitiesOnly: ssh?.identitiesOnly,
    proxyJump: inv?.proxyJump ?? ssh?.proxyJump,
    // A name typed on the command line reports where its settings came from.
    source: source !== 'cli' ? source : inv ? 'inventory' : ssh?.hostname ? 'ssh-config' : disc ? 'mdns' : 'cli',
  };
  if (disc) {
    target.addresses = disc.addresses;
    if (disc.agent) target.txt = disc.agent.txt;
  }
  return target;
}

/** A ProxyJump hop resolved through the same inventory / ssh_config lookups. */
export function jumpHostResolver(input: Pick<ResolveInput, 'inventory' | 'sshConfig' | 'identityFiles'>) {
  return (spec: string): HostTarget => {
    const at = spec.lastIndexOf('@');
    const user = at > 0 ? spec.slice(0, at) : undefined;
    const rest = at >= 0 ? spec.slice(at + 1) : spec;
    const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(rest);
    const host = m?.[1] ?? rest;
    const t = buildTarget(host, 'ssh-config', { expressions: [], ...input }, undefined);
    if (user) t.user = user;
    if (m?.[2]) t.port = Number(m[2]);
    t.proxyJump = undefined; // chained ProxyJump inside a hop is not followed (the hop list is flat)
    return t;
  };
}
