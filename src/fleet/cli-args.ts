/** commander argument parsers shared by every stap-fleet command. */
import { InvalidArgumentError } from 'commander';

export function positiveInt(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}

/** Seconds on the command line, milliseconds inside. */
export function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return Math.round(n * 1000);
}

export function millis(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of milliseconds');
  return n;
}
