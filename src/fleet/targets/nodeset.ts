/**
 * clush-style node sets: `h[1-50]`, `h[01-10]` (zero-padded), `h[1-3,7]`, `h[1-9/2]`, `r[1-2]n[1-4]`,
 * `@group`, comma lists, and exclusion with a leading `!` (also what `-x` feeds in). Expansion keeps the
 * first-seen order and drops duplicates; fold() does the reverse for display.
 */
import { StapFleetError } from '../../errors.js';

export type GroupResolver = (group: string) => string[] | undefined;

const MAX_EXPANSION = 100_000;

function usage(detail: string): StapFleetError {
  return new StapFleetError('SF_TARGETS', { detail });
}

/** Splits on commas that are not inside brackets. */
export function splitTopLevel(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of expr) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (depth < 0) throw usage(`node set '${expr}': unbalanced ']'`);
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (depth !== 0) throw usage(`node set '${expr}': unbalanced '['`);
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Expands one bracket body like `1-3,07-09,12/2` into padded strings. */
function expandRange(body: string, whole: string): string[] {
  const out: string[] = [];
  for (const piece of body.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?:\/(\d+))?)?$/.exec(piece.trim());
    if (!m) throw usage(`node set '${whole}': bad range '${piece}' (expected N, N-M or N-M/STEP)`);
    const [, a, b, s] = m;
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    const step = s === undefined ? 1 : Number(s);
    if (hi < lo) throw usage(`node set '${whole}': range '${piece}' goes backwards`);
    if (step < 1) throw usage(`node set '${whole}': step must be >= 1 in '${piece}'`);
    const width = a!.length > 1 && a!.startsWith('0') ? a!.length : 0;
    if ((hi - lo) / step > MAX_EXPANSION) throw usage(`node set '${whole}': range '${piece}' is too large`);
    for (let n = lo; n <= hi; n += step) out.push(width ? String(n).padStart(width, '0') : String(n));
  }
  return out;
}

/** Expands a pattern with zero or more bracket groups (cartesian product, left to right). */
export function expandPattern(pattern: string): string[] {
  const open = pattern.indexOf('[');
  if (open < 0) {
    if (pattern.includes(']')) throw usage(`node set '${pattern}': unbalanced ']'`);
    return [pattern];
  }
  const close = pattern.indexOf(']', open);
  if (close < 0) throw usage(`node set '${pattern}': unbalanced '['`);
  const head = pattern.slice(0, open);
  const values = expandRange(pattern.slice(open + 1, close), pattern);
  const tails = expandPattern(pattern.slice(close + 1));
  if (values.length * tails.length > MAX_EXPANSION) throw usage(`node set '${pattern}' is too large`);
  const out: string[] = [];
  for (const v of values) for (const t of tails) out.push(head + v + t);
  return out;
}

function expandItem(item: string, groups: GroupResolver | undefined, seen: Set<string>): string[] {
  if (item.startsWith('@')) {
    const name = item.slice(1);
    if (!name) throw usage(`empty group name in '${item}'`);
    if (seen.has(name)) throw usage(`group '@${name}' includes itself`);
    const members = groups?.(name);
    if (!members) throw usage(`unknown group '@${name}' (groups come from the inventory file)`);
    const inner = new Set(seen).add(name);
    return members.flatMap((m) => (m.startsWith('@') ? expandItem(m, groups, inner) : expandPattern(m)));
  }
  if (!/^[A-Za-z0-9_.:%\-\[\],/]+$/.test(item)) throw usage(`node set item '${item}' has characters a host name cannot have`);
  return expandPattern(item);
}

/**
 * Expands node-set expressions (each may be a comma list) into host names; items starting with `!` and
 * everything in `exclude` are removed from the result wherever they appear.
 */
export function expandNodeSet(exprs: string | string[], opts: { groups?: GroupResolver; exclude?: string[] } = {}): string[] {
  const include: string[] = [];
  const excluded = new Set<string>();
  for (const expr of Array.isArray(exprs) ? exprs : [exprs]) {
    for (const item of splitTopLevel(expr)) {
      if (item.startsWith('!')) for (const n of expandItem(item.slice(1), opts.groups, new Set())) excluded.add(n);
      else include.push(...expandItem(item, opts.groups, new Set()));
    }
  }
  for (const expr of opts.exclude ?? []) {
    for (const item of splitTopLevel(expr)) {
      for (const n of expandItem(item.replace(/^!/, ''), opts.groups, new Set())) excluded.add(n);
    }
  }
  return [...new Set(include)].filter((n) => !excluded.has(n));
}

/** Folds names into a compact node set: h1,h2,h3,h5,x -> h[1-3,5],x (the last number of each name folds). */
export function foldNodeSet(names: string[]): string {
  const buckets = new Map<string, { head: string; tail: string; width: number; nums: number[] }>();
  const plain: string[] = [];
  const order: string[] = [];
  for (const name of [...new Set(names)]) {
    const m = /^(.*?)(\d+)(\D*)$/.exec(name);
    if (!m) {
      plain.push(name);
      order.push(`plain:${name}`);
      continue;
    }
    const [, head, digits, tail] = m;
    const width = digits!.length > 1 && digits!.startsWith('0') ? digits!.length : 0;
    const key = `${head}\u0000${tail}`;
    let b = buckets.get(key);
    if (!b) {
      b = { head: head!, tail: tail!, width, nums: [] };
      buckets.set(key, b);
      order.push(`bucket:${key}`);
    }
    b.width = Math.max(b.width, width); // n08,n09,n10 share the padded width 2
    b.nums.push(Number(digits));
  }
  const parts = order.map((o) => {
    if (o.startsWith('plain:')) return o.slice(6);
    const b = buckets.get(o.slice(7))!;
    const nums = [...new Set(b.nums)].sort((x, y) => x - y);
    const pad = (n: number) => (b.width ? String(n).padStart(b.width, '0') : String(n));
    if (nums.length === 1) return `${b.head}${pad(nums[0]!)}${b.tail}`;
    const ranges: string[] = [];
    let start = nums[0]!;
    let prev = start;
    for (const n of [...nums.slice(1), Number.NaN]) {
      if (n === prev + 1) {
        prev = n;
        continue;
      }
      ranges.push(start === prev ? pad(start) : `${pad(start)}-${pad(prev)}`);
      start = prev = n;
    }
    return `${b.head}[${ranges.join(',')}]${b.tail}`;
  });
  return parts.join(',');
}
