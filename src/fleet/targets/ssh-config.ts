/**
 * ~/.ssh/config through the `ssh-config` package (maintained parser): the concrete Host names it lists
 * (targets for `--ssh-config-hosts`) and, per host, HostName/User/Port/IdentityFile/ProxyJump/
 * IdentitiesOnly/UserKnownHostsFile. `Match exec` is never evaluated (config is parsed, never executed).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import SSHConfig from 'ssh-config';

export interface SshHostSettings {
  hostname?: string;
  user?: string;
  port?: number;
  identityFiles?: string[];
  identitiesOnly?: boolean;
  proxyJump?: string;
  userKnownHostsFiles?: string[];
  strictHostKeyChecking?: string;
}

export interface SshConfigFile {
  file: string;
  hostNames(): string[];
  settingsFor(host: string): SshHostSettings;
}

export function defaultSshConfigPath(): string {
  return `${homedir()}/.ssh/config`;
}

function expandPath(p: string, host: string, user: string | undefined): string {
  let s = p.replace(/^~(?=$|\/)/, homedir());
  s = s.replace(/%(.)/g, (whole, c: string) =>
    c === 'd' ? homedir() : c === 'h' ? host : c === 'r' && user ? user : c === '%' ? '%' : whole,
  );
  return s;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const all = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export function parseSshConfig(text: string, file: string): SshConfigFile {
  const config = SSHConfig.parse(text);
  return {
    file,
    hostNames() {
      const names: string[] = [];
      for (const line of config) {
        if (line.type !== SSHConfig.DIRECTIVE || line.param.toLowerCase() !== 'host') continue;
        const values = Array.isArray(line.value) ? line.value.map((v) => v.val) : line.value.split(/\s+/);
        for (const v of values) if (v && !/[*?!]/.test(v) && !names.includes(v)) names.push(v);
      }
      return names;
    },
    settingsFor(host) {
      const c = config.compute(host, { ignoreCase: true, matchExec: false }) as Record<string, string | string[]>;
      const user = first(c.user);
      const hostnameRaw = first(c.hostname);
      const hostname = hostnameRaw?.replace(/%h/g, host);
      const portRaw = first(c.port);
      const port = portRaw !== undefined && /^\d+$/.test(portRaw) ? Number(portRaw) : undefined;
      const proxy = first(c.proxyjump);
      return {
        hostname,
        user,
        port,
        identityFiles: all(c.identityfile).map((f) => expandPath(f, hostname ?? host, user)),
        identitiesOnly: first(c.identitiesonly)?.toLowerCase() === 'yes' ? true : undefined,
        proxyJump: proxy && proxy.toLowerCase() !== 'none' ? proxy : undefined,
        userKnownHostsFiles: all(c.userknownhostsfile)
          .flatMap((v) => v.split(/\s+/))
          .map((f) => expandPath(f, hostname ?? host, user)),
        strictHostKeyChecking: first(c.stricthostkeychecking),
      };
    },
  };
}

/** Loads the file; a missing file is an empty config, as for ssh. */
export function loadSshConfig(file: string): SshConfigFile {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '';
  }
  return parseSshConfig(text, file);
}
