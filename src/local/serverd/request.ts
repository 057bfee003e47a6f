/**
 * What the client asked for, read from an unpacked request directory (reference §3 "Request zip"):
 * `version`, `sysinfo` ("sysinfo: <release> <arch>"), `argv1..N` (one raw argument each), `locale`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RequestRefusal } from './unpack.js';

export interface ClientRequest {
  /** Client protocol version; "1.0" when the request has none (as stap-serverd assumes). */
  clientVersion: string;
  /** Target kernel release: the second token of sysinfo, undefined when unreadable. */
  release?: string;
  arch?: string;
  args: string[];
  /** Raw content of the `locale` file, if present. */
  locale?: string;
}

const MAX_ARGS = 10_000;

export function readClientRequest(dir: string): ClientRequest {
  const read = (name: string): string | undefined => {
    const p = join(dir, name);
    return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
  };
  const version = read('version')?.trim().split(/\s+/)[0];
  const clientVersion = version && /^[0-9][0-9.]*$/.test(version) ? version : '1.0';
  const tokens = (read('sysinfo') ?? '').trim().split(/\s+/);
  const args: string[] = [];
  for (let i = 1; ; i++) {
    if (i > MAX_ARGS) throw new RequestRefusal(`The request has more than ${MAX_ARGS} arguments.`);
    const p = join(dir, `argv${i}`);
    if (!existsSync(p)) break;
    // stap-serverd passes each argument as a C string, so it ends at the first NUL byte. Node passes
    // argv as UTF-8; a non-UTF-8 byte cannot be forwarded exactly (it becomes U+FFFD).
    const raw = readFileSync(p);
    const nul = raw.indexOf(0);
    args.push((nul >= 0 ? raw.subarray(0, nul) : raw).toString('utf8'));
  }
  return {
    clientVersion,
    release: tokens.length >= 2 && tokens[1] ? tokens[1] : undefined,
    arch: tokens[2] || undefined,
    args,
    locale: read('locale'),
  };
}
