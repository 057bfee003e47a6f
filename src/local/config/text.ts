import { StapFleetError } from '../../errors.js';
import { CONFIG_LIMITS } from './limits.js';

/** Throws the one syntax error of this area: `file:line: detail`. */
export function syntaxError(file: string, line: number, detail: string, column?: number): StapFleetError {
  const params: Record<string, string | number> = { file, line, detail: column ? `${detail} (column ${column})` : detail };
  if (column) params.column = column;
  return new StapFleetError('SF_CONFIG_SYNTAX', params);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Bytes of a config file to text: rejects oversized files, a byte order mark and invalid UTF-8,
 * each at the line where it occurs. Line-level checks (NUL, control characters) are in splitLines.
 */
export function decodeConfig(bytes: Uint8Array, file: string): string {
  if (bytes.length > CONFIG_LIMITS.maxFileBytes) {
    throw syntaxError(file, lineOfOffset(bytes, CONFIG_LIMITS.maxFileBytes), `file is larger than ${CONFIG_LIMITS.maxFileBytes} bytes`);
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw syntaxError(file, 1, 'file starts with a UTF-8 byte order mark (bash would read it as part of the first word); save it without BOM');
  }
  // Decode line by line so that an invalid sequence is reported at its own line.
  const lines: string[] = [];
  let start = 0;
  let line = 1;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    const chunk = bytes.subarray(start, end === -1 ? bytes.length : end);
    try {
      lines.push(utf8.decode(chunk));
    } catch {
      throw syntaxError(file, line, 'line is not valid UTF-8');
    }
    if (end === -1) break;
    start = end + 1;
    line += 1;
  }
  return lines.join('\n');
}

function lineOfOffset(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < bytes.length; i++) if (bytes[i] === 0x0a) line += 1;
  return line;
}

/**
 * Text to lines, rejecting what bash would treat surprisingly or what cannot be stored in a
 * SystemTap status file: NUL, carriage returns (DOS files: bash keeps the CR in the value),
 * other control characters (C0 except tab, DEL, C1: terminal escapes), and overlong lines.
 */
export function splitLines(text: string, file: string): string[] {
  if (text.length > CONFIG_LIMITS.maxFileBytes) {
    const line = text.slice(0, CONFIG_LIMITS.maxFileBytes).split('\n').length;
    throw syntaxError(file, line, `file is larger than ${CONFIG_LIMITS.maxFileBytes} bytes`);
  }
  if (text.charCodeAt(0) === 0xfeff) {
    throw syntaxError(file, 1, 'file starts with a UTF-8 byte order mark (bash would read it as part of the first word); save it without BOM');
  }
  const lines = text.split('\n');
  lines.forEach((content, index) => {
    const line = index + 1;
    if (content.length > CONFIG_LIMITS.maxLineChars) {
      throw syntaxError(file, line, `line is longer than ${CONFIG_LIMITS.maxLineChars} characters`);
    }
    const bad = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.exec(content);
    if (bad) throw syntaxError(file, line, describeControl(bad[0], bad.index === content.length - 1), bad.index + 1);
  });
  return lines;
}

function describeControl(char: string, atEnd: boolean): string {
  if (char === '\u0000') return 'NUL byte';
  if (char === '\r') {
    return atEnd
      ? 'carriage return at end of line (DOS line endings; bash would keep it in the value): convert the file with dos2unix'
      : 'carriage return inside a line';
  }
  return `control character U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}
