import { describe, it, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { readRequestFrame } from '../../../src/local/serverd/framing.js';

const len = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

function feed(chunks: Buffer[], end = false): PassThrough {
  const s = new PassThrough();
  setImmediate(() => {
    for (const c of chunks) s.write(c);
    if (end) s.end();
  });
  return s;
}

const limits = { maxCompressed: 100, timeoutMs: 500 };

describe('request framing', () => {
  it('recognises the trust probe', async () => {
    expect(await readRequestFrame(feed([len(0)]), limits)).toEqual({ kind: 'probe' });
  });
  it('reassembles a request split across chunks, header included', async () => {
    const body = Buffer.from('0123456789');
    const all = Buffer.concat([len(10), body]);
    const r = await readRequestFrame(feed([all.subarray(0, 2), all.subarray(2, 7), all.subarray(7)]), limits);
    expect(r).toEqual({ kind: 'request', zip: body });
  });
  it('drains an oversize body without keeping it, then reports it', async () => {
    const r = await readRequestFrame(feed([len(150), Buffer.alloc(100), Buffer.alloc(50)]), limits);
    expect(r).toEqual({ kind: 'too-large', length: 150 });
  });
  it('reports negative lengths, truncation, missing length and stalls', async () => {
    expect(await readRequestFrame(feed([len(-1)]), limits)).toEqual({ kind: 'negative', length: -1 });
    expect(await readRequestFrame(feed([len(10), Buffer.alloc(3)], true), limits)).toEqual({ kind: 'truncated', expected: 10, received: 3 });
    expect(await readRequestFrame(feed([Buffer.alloc(2)], true), limits)).toEqual({ kind: 'no-length' });
    const t0 = Date.now();
    expect(await readRequestFrame(feed([len(10), Buffer.alloc(4)]), limits)).toEqual({ kind: 'timeout', received: 4 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  });
});
