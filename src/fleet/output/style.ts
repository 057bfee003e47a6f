/** Colour only on a TTY and only without NO_COLOR (https://no-color.org). */
export interface Style {
  bold(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
}

export function makeStyle(stream: NodeJS.WriteStream | { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const on = !!stream.isTTY && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') && env.TERM !== 'dumb';
  const wrap = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap('1'), green: wrap('32'), red: wrap('31'), yellow: wrap('33'), dim: wrap('2') };
}
