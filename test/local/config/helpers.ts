import { expect } from 'vitest';
import { StapFleetError } from '../../../src/errors.js';
import type { ConfigDeps } from '../../../src/local/config/index.js';

/** Fake passwd: two users, and a known home for a bare `~`. */
export const fakeDeps: ConfigDeps = {
  homeOf: (user) => ({ serveruser: '/home/serveruser', 'stap-server': '/var/lib/stap-server', alice: '/home/alice' })[user],
  homeDir: () => '/root',
};

/** Runs `fn`, expecting SF_CONFIG_SYNTAX at `file:line` with a detail containing `fragment`. */
export function expectSyntaxError(fn: () => unknown, file: string, line: number, fragment: string | RegExp): StapFleetError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a config syntax error').toBeInstanceOf(StapFleetError);
  const err = caught as StapFleetError;
  expect(err.code).toBe('SF_CONFIG_SYNTAX');
  expect(err.message.startsWith(`${file}:${line}: `), err.message).toBe(true);
  expect(err.params.file).toBe(file);
  expect(err.params.line).toBe(line);
  if (typeof fragment === 'string') expect(err.message).toContain(fragment);
  else expect(err.message).toMatch(fragment);
  return err;
}
