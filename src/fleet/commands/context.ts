/**
 * What every stap-fleet command needs, built from options: targets (inventory, ssh_config, mDNS, node sets),
 * a transport, timeouts. Options are plain data so tests can build a context without the CLI.
 */
import { existsSync } from 'node:fs';
import { assertMdnsAllowed } from '../../mdns.js';
import { homedir } from 'node:os';
import { OpenSshTransport } from '../transport/openssh.js';
import { DEFAULT_GLOBAL_KNOWN_HOSTS, Ssh2Transport, defaultUserKnownHosts } from '../transport/ssh2.js';
import type { HostTarget, Transport } from '../transport/types.js';
import { discoverHosts, groupByHost, hostComplete, hostMatchesFilters } from '../targets/discovery.js';
import type { Advertisement, DiscoveredHost } from '../targets/discovery.js';
import { inventoryGroups, loadInventory } from '../targets/inventory.js';
import { expandNodeSet } from '../targets/nodeset.js';
import type { Inventory } from '../targets/inventory.js';
import { jumpHostResolver, resolveTargets } from '../targets/resolve.js';
import { defaultSshConfigPath, loadSshConfig } from '../targets/ssh-config.js';
import type { SshConfigFile } from '../targets/ssh-config.js';
import type { SudoMode } from './remote.js';

export interface FleetOptions {
  targets: string[];
  exclude: string[];
  inventory?: string;
  sshConfig?: string;
  sshConfigHosts: boolean;
  mdns: boolean;
  mdnsTimeoutMs: number;
  mdnsQuietMs: number;
  release?: string;
  arch?: string;
  user?: string;
  port?: number;
  identity: string[];
  knownHosts: string[];
  globalKnownHosts: string[];
  acceptNew: boolean;
  fanout: number;
  /** Connect attempts when sshd drops the connection before authentication (MaxStartups). */
  connectAttempts: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  transport: 'ssh2' | 'openssh';
  controlMaster: boolean;
  remoteCommand: string;
  sudo: SudoMode;
  json: boolean;
  progress: boolean;
}

export const DEFAULT_INVENTORY = () => `${homedir()}/.config/stap-fleet/inventory`;

export function defaultFleetOptions(): FleetOptions {
  return {
    targets: [],
    exclude: [],
    sshConfigHosts: false,
    mdns: true,
    mdnsTimeoutMs: 3000,
    mdnsQuietMs: 250,
    identity: [],
    knownHosts: [],
    globalKnownHosts: [],
    acceptNew: false,
    fanout: 64,
    connectAttempts: 4,
    connectTimeoutMs: 10_000,
    commandTimeoutMs: 60_000,
    transport: 'ssh2',
    controlMaster: false,
    remoteCommand: 'stap-server',
    sudo: 'auto',
    json: false,
    progress: true,
  };
}

export interface FleetContext {
  options: FleetOptions;
  inventory?: Inventory;
  sshConfig: SshConfigFile;
  transport: Transport;
  /** Resolves targets; waits for mDNS only when needed (no explicit targets, or TXT filters). */
  resolve(): Promise<{ targets: HostTarget[]; discovery: Promise<DiscoveredHost[]> }>;
}

export function buildContext(options: FleetOptions): FleetContext {
  const invFile = options.inventory ?? process.env.STAP_FLEET_INVENTORY ?? (existsSync(DEFAULT_INVENTORY()) ? DEFAULT_INVENTORY() : undefined);
  const inventory = invFile ? loadInventory(invFile) : undefined;
  const sshConfig = loadSshConfig(options.sshConfig ?? defaultSshConfigPath());
  const userKnownHosts = options.knownHosts.length ? options.knownHosts : defaultUserKnownHosts();
  const globalKnownHosts = options.globalKnownHosts.length ? options.globalKnownHosts : DEFAULT_GLOBAL_KNOWN_HOSTS;
  const transport: Transport =
    options.transport === 'openssh'
      ? new OpenSshTransport({
          userKnownHostsFiles: userKnownHosts,
          globalKnownHostsFiles: globalKnownHosts,
          acceptNew: options.acceptNew,
          controlMaster: options.controlMaster,
          sshConfig: options.sshConfig,
        })
      : new Ssh2Transport({
          userKnownHostsFiles: userKnownHosts,
          globalKnownHostsFiles: globalKnownHosts,
          acceptNew: options.acceptNew,
          resolveJumpHost: jumpHostResolver({ inventory, sshConfig, identityFiles: options.identity }),
        });

  return {
    options,
    inventory,
    sshConfig,
    transport,
    async resolve() {
      // Bad node sets are usage errors before anything touches the network.
      if (options.targets.length) expandNodeSet(options.targets, { groups: inventoryGroups(inventory), exclude: options.exclude });
      // With named targets the browse may end as soon as every one of them has fully answered.
      const named = options.targets.length && !options.release && !options.arch
        ? resolveTargets({ expressions: options.targets, exclude: options.exclude, inventory, sshConfig, user: options.user, port: options.port })
        : undefined;
      const until = named
        ? (ads: Advertisement[]) => {
            const hosts = groupByHost(ads);
            return named.every((t) => {
              const d = hosts.find((h) => h.name === t.name || h.addresses.includes(t.hostname));
              return !!d && hostComplete(d);
            });
          }
        : undefined;
      if (options.mdns) assertMdnsAllowed(); // refused loudly, before anything runs
      const discovery: Promise<DiscoveredHost[]> = options.mdns
        ? discoverHosts({ maxMs: options.mdnsTimeoutMs, quietMs: options.mdnsQuietMs, until }).catch((e: Error) => {
            // A failed browse (no multicast route, ...) must not fail the SSH part: say so and go on without.
            process.stderr.write(`stap-fleet: mDNS browse failed, continuing without it: ${e.message}\n`);
            return [];
          })
        : Promise.resolve([]);
      const filters = { release: options.release, arch: options.arch };
      const needDiscoveryFirst = options.mdns && (options.targets.length === 0 || !!options.release || !!options.arch);
      const discovered = needDiscoveryFirst ? await discovery : [];
      let targets = resolveTargets({
        expressions: options.targets,
        exclude: options.exclude,
        inventory,
        sshConfig,
        sshConfigHosts: options.sshConfigHosts,
        discovered,
        user: options.user,
        port: options.port,
        identityFiles: options.identity,
      });
      if (filters.release || filters.arch) {
        targets = targets.filter((t) => {
          const d = discovered.find((h) => h.name === t.name || h.addresses.includes(t.hostname));
          return d ? hostMatchesFilters(d, filters) : false;
        });
      }
      return { targets, discovery };
    },
  };
}
