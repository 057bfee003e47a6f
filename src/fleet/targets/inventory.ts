/**
 * The inventory file: plain text, parsed (never executed), one host entry per line, `[group]` headers.
 *
 *   # comment
 *   h1 host=10.0.0.1 port=2222 user=ops identity=~/.ssh/fleet proxyjump=bastion
 *   [web]                 # following entries also belong to @web
 *   web[1-4] user=ops     # a node set expands to several entries with the same settings
 *   @db                   # a group may include another group
 *
 * Keys: host (single-name entries only), port, user, identity (repeatable), proxyjump. A host listed twice
 * keeps its first settings and gains the later groups. Errors name file:line.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { StapFleetError } from '../../errors.js';
import { expandPattern, splitTopLevel } from './nodeset.js';

export interface InventoryHost {
  name: string;
  hostname?: string;
  port?: number;
  user?: string;
  identityFiles?: string[];
  proxyJump?: string;
  groups: string[];
  line: number;
}

export interface Inventory {
  file: string;
  hosts: Map<string, InventoryHost>;
  /** Group name -> members (host names or @group), in file order. */
  groups: Map<string, string[]>;
}

const KEYS = new Set(['host', 'port', 'user', 'identity', 'proxyjump']);
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-]*$/;

function expandTilde(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? homedir() + p.slice(1) : p;
}

export function parseInventory(text: string, file: string): Inventory {
  const inv: Inventory = { file, hosts: new Map(), groups: new Map() };
  let group: string | undefined;
  const err = (line: number, detail: string) => new StapFleetError('SF_INVENTORY', { file, line, detail });

  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      if (!NAME_RE.test(name)) throw err(lineNo, `bad group name '${name}'`);
      group = name;
      if (!inv.groups.has(name)) inv.groups.set(name, []);
      return;
    }
    if (line.startsWith('[')) throw err(lineNo, `unterminated group header '${line}'`);
    const [first, ...words] = line.split(/\s+/);
    if (first!.startsWith('@')) {
      if (!group) throw err(lineNo, `group reference '${first}' outside a [group] section`);
      if (words.length) throw err(lineNo, `a group reference takes no settings`);
      if (!NAME_RE.test(first!.slice(1))) throw err(lineNo, `bad group name '${first}'`);
      inv.groups.get(group)!.push(first!);
      return;
    }
    let names: string[];
    try {
      names = splitTopLevel(first!).flatMap(expandPattern);
    } catch (e) {
      throw err(lineNo, e instanceof Error ? e.message : String(e));
    }
    for (const n of names) if (!NAME_RE.test(n)) throw err(lineNo, `bad host name '${n}'`);
    const settings: Omit<InventoryHost, 'name' | 'groups' | 'line'> = {};
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw err(lineNo, `expected key=value, got '${word}'`);
      const key = word.slice(0, eq).toLowerCase();
      const value = word.slice(eq + 1);
      if (!KEYS.has(key)) throw err(lineNo, `unknown key '${key}' (known: ${[...KEYS].join(', ')})`);
      if (!value) throw err(lineNo, `empty value for '${key}'`);
      if (key === 'host') {
        if (names.length > 1) throw err(lineNo, `host= needs a single host name, not the node set '${first}'`);
        settings.hostname = value;
      } else if (key === 'port') {
        const port = Number(value);
        if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw err(lineNo, `bad port '${value}'`);
        settings.port = port;
      } else if (key === 'user') settings.user = value;
      else if (key === 'identity') settings.identityFiles = [...(settings.identityFiles ?? []), expandTilde(value)];
      else settings.proxyJump = value;
    }
    for (const name of names) {
      const existing = inv.hosts.get(name);
      if (existing) {
        if (group && !existing.groups.includes(group)) existing.groups.push(group);
      } else inv.hosts.set(name, { name, ...settings, groups: group ? [group] : [], line: lineNo });
      if (group) inv.groups.get(group)!.push(name);
    }
  });
  // Group references must resolve, without cycles; checked here so errors still name the file.
  for (const [g, members] of inv.groups) {
    for (const m of members) if (m.startsWith('@') && !inv.groups.has(m.slice(1))) {
      throw new StapFleetError('SF_INVENTORY', { file, line: 0, detail: `group [${g}] references unknown group '${m}'` });
    }
  }
  return inv;
}

export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new StapFleetError('SF_INVENTORY', { file, line: 0, detail: `cannot read: ${(e as Error).message}` });
  }
  return parseInventory(text, file);
}

/** Group resolver for expandNodeSet. */
export function inventoryGroups(inv: Inventory | undefined): (g: string) => string[] | undefined {
  return (g) => inv?.groups.get(g);
}
