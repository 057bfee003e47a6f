/**
 * Folds identical per-host output into one block per distinct (category, exit code, output), like
 * `clush -b`: the block header names the hosts as a folded node set. Keys are hashed so 1000 hosts with
 * the same output cost one comparison each.
 */
import { createHash } from 'node:crypto';
import { foldNodeSet } from '../targets/nodeset.js';
import type { HostCategory } from '../transport/types.js';

export interface FoldInput {
  host: string;
  category: HostCategory;
  exitCode: number | null;
  /** stdout+stderr as shown, or the connection error message. */
  output: string;
}

export interface FoldedBlock {
  hosts: string[];
  nodeset: string;
  category: HostCategory;
  exitCode: number | null;
  output: string;
}

export function foldOutputs(items: FoldInput[]): FoldedBlock[] {
  const blocks = new Map<string, FoldedBlock>();
  for (const it of items) {
    const key = createHash('sha1').update(`${it.category}\0${it.exitCode}\0${it.output}`).digest('hex');
    const b = blocks.get(key);
    if (b) b.hosts.push(it.host);
    else blocks.set(key, { hosts: [it.host], nodeset: '', category: it.category, exitCode: it.exitCode, output: it.output });
  }
  const out = [...blocks.values()];
  for (const b of out) b.nodeset = foldNodeSet(b.hosts);
  // ok blocks first, then by size, so the common case reads first and the odd ones stand out below it.
  return out.sort((a, b) => Number(a.category !== 'ok') - Number(b.category !== 'ok') || b.hosts.length - a.hosts.length);
}
