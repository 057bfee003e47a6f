import { describe, expect, it } from 'vitest';
import { expandNodeSet, foldNodeSet } from '../../src/fleet/targets/nodeset.js';

describe('node sets', () => {
  it('expands ranges, lists, padding and steps', () => {
    expect(expandNodeSet('h[1-3]')).toEqual(['h1', 'h2', 'h3']);
    expect(expandNodeSet('h[1-3,7]')).toEqual(['h1', 'h2', 'h3', 'h7']);
    expect(expandNodeSet('n[08-11]')).toEqual(['n08', 'n09', 'n10', 'n11']);
    expect(expandNodeSet('h[1-9/4]')).toEqual(['h1', 'h5', 'h9']);
    expect(expandNodeSet('r[1-2]n[1-2]')).toEqual(['r1n1', 'r1n2', 'r2n1', 'r2n2']);
    expect(expandNodeSet('10.0.0.[1-2],web')).toEqual(['10.0.0.1', '10.0.0.2', 'web']);
    expect(expandNodeSet('h[1-50]')).toHaveLength(50);
  });
  it('removes duplicates keeping first-seen order', () => {
    expect(expandNodeSet(['h2,h1', 'h[1-3]'])).toEqual(['h2', 'h1', 'h3']);
  });
  it('excludes with ! and with -x', () => {
    expect(expandNodeSet('h[1-5],!h[2-3]')).toEqual(['h1', 'h4', 'h5']);
    expect(expandNodeSet('h[1-5]', { exclude: ['h1,h5'] })).toEqual(['h2', 'h3', 'h4']);
  });
  it('expands @groups, nested, and refuses unknown or cyclic groups', () => {
    const groups: Record<string, string[]> = { web: ['w[1-2]', '@db'], db: ['d1'], loop: ['@loop'] };
    const g = (n: string) => groups[n];
    expect(expandNodeSet('@web,x', { groups: g })).toEqual(['w1', 'w2', 'd1', 'x']);
    expect(expandNodeSet('@web,!@db', { groups: g })).toEqual(['w1', 'w2']);
    expect(() => expandNodeSet('@nope', { groups: g })).toThrow(/unknown group '@nope'/);
    expect(() => expandNodeSet('@loop', { groups: g })).toThrow(/includes itself/);
  });
  it('rejects malformed sets with a message naming the set', () => {
    expect(() => expandNodeSet('h[1-')).toThrow(/node set 'h\[1-': unbalanced '\['/);
    expect(() => expandNodeSet('h[3-1]')).toThrow(/backwards/);
    expect(() => expandNodeSet('h[a-b]')).toThrow(/bad range 'a-b'/);
    expect(() => expandNodeSet('h;rm')).toThrow(/characters a host name cannot have/);
    expect(() => expandNodeSet('h[1-100000000]')).toThrow(/too large/);
  });
  it('folds names back into a node set', () => {
    expect(foldNodeSet(['h1', 'h2', 'h3', 'h5', 'web', 'h7'])).toBe('h[1-3,5,7],web');
    expect(foldNodeSet(['n08', 'n09', 'n10'])).toBe('n[08-10]');
    expect(foldNodeSet(['h4'])).toBe('h4');
    expect(foldNodeSet(['10.0.0.2', '10.0.0.3', '10.0.0.9'])).toBe('10.0.0.[2-3,9]');
    expect(expandNodeSet(foldNodeSet(expandNodeSet('h[1-50],!h[7,9]')))).toEqual(expandNodeSet('h[1-50],!h[7,9]'));
  });
});
