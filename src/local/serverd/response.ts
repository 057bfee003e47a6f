/**
 * The response directory and its zip: `version`, `rc`, `stdout`, `stderr`, `stap000000/...`, as
 * stap-serverd's `zip -q -r response.zip .` lays it out (directory entries included, links followed).
 */
import yazl from 'yazl';
import { appendFileSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** Appends a `Server: <msg>` line to the client's stderr, as stap-serverd's client_error. */
export function appendClientError(responseDir: string, message: string): void {
  appendFileSync(join(responseDir, 'stderr'), `Server: ${message}\n`, { mode: 0o600 });
}

export function writeRc(responseDir: string, rc: number): void {
  writeFileSync(join(responseDir, 'rc'), String(rc), { mode: 0o600 });
}

/**
 * Replaces the server's home directory, then the response directory, with `<server>` (stap-serverd's
 * filter_response_file, which does the same with two `sed -i s,DIR,<server>,g`; "/" is never replaced).
 */
export function scrubText(text: string, paths: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const p of paths) if (p && p !== '/') out = out.split(p).join('<server>');
  return out;
}

export function scrubFile(file: string, paths: ReadonlyArray<string | undefined>): void {
  let text: string;
  try {
    text = readFileSync(file, 'latin1'); // byte-preserving: paths are compared byte for byte
  } catch {
    return;
  }
  const out = scrubText(text, paths.map((p) => (p ? Buffer.from(p, 'utf8').toString('latin1') : p)));
  if (out !== text) writeFileSync(file, out, 'latin1');
}

/** Streams the response directory as a zip. */
export function zipResponse(responseDir: string): Readable {
  const zip = new yazl.ZipFile();
  const walk = (dir: string, prefix: string, seen: Set<string>): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      let st;
      try {
        st = statSync(path); // follows links, like zip -r
      } catch {
        continue; // dangling link
      }
      if (st.isDirectory()) {
        const real = realpathSync(path);
        if (seen.has(real)) continue; // a link loop
        zip.addEmptyDirectory(`${prefix}${name}/`, { mode: st.mode, mtime: st.mtime });
        walk(path, `${prefix}${name}/`, new Set([...seen, real]));
      } else if (st.isFile()) {
        // Read now (the temp dir is removed once the reply is sent); compress only what is worth it.
        zip.addBuffer(readFileSync(path), `${prefix}${name}`, { mode: st.mode, mtime: st.mtime, compress: st.size > 16 * 1024 });
      }
    }
  };
  walk(responseDir, '', new Set([realpathSync(responseDir)]));
  zip.end();
  return zip.outputStream as unknown as Readable;
}
