/**
 * stap-fleet's exit codes. One code per host category; when hosts end in different categories the run
 * exits with the highest code present (the precedence is the numeric order), so the most fundamental
 * problem wins: a host we could not trust beats one we could not log in to, beats one we could not reach,
 * beats one that timed out, beats one whose command failed.
 */
import type { HostCategory } from './transport/types.js';

export const FLEET_EXIT = {
  ok: 0,
  /** Controller error (bad environment, internal error). */
  error: 1,
  /** Usage error (bad option, bad node set, bad inventory file). */
  usage: 2,
  /** Some host's command failed (non-zero exit). */
  failed: 3,
  /** Some host's connect or command timed out. */
  timeout: 4,
  /** Some host could not be reached (refused, no route, dropped). */
  unreachable: 5,
  /** Some host refused our authentication. */
  auth: 6,
  /** Some host's key was unknown, mismatched or revoked. */
  hostkey: 7,
} as const;

export function exitCodeForCategories(categories: Iterable<HostCategory>): number {
  let code: number = FLEET_EXIT.ok;
  for (const c of categories) code = Math.max(code, FLEET_EXIT[c]);
  return code;
}

/** Label used in summaries and tables. */
export const CATEGORY_LABEL: Record<HostCategory, string> = {
  ok: 'ok',
  failed: 'failed',
  unreachable: 'unreachable',
  timeout: 'timed out',
  hostkey: 'host key refused',
  auth: 'auth refused',
};
