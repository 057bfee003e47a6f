import { describe, expect, it } from 'vitest';
import { sudoRefusal, sudoRefusalMessage, sudoWrap } from '../../src/fleet/transport/sudo.js';

describe('sudo -n wrapping and refusals', () => {
  it('wraps only for a non-root login that wants sudo', () => {
    expect(sudoWrap('stap-server start', 'ops', true)).toBe('umask 022; exec sudo -n -- stap-server start');
    expect(sudoWrap('stap-server start', 'root', true)).toBe('stap-server start');
    expect(sudoWrap('stap-server status', 'ops', false)).toBe('stap-server status');
  });

  it('tells sudo\'s own refusal (exit 1, "sudo: " lines) from the command\'s failure', () => {
    expect(sudoRefusal(1, 'sudo: a password is required\n')).toBe('a password is required');
    expect(sudoRefusal(1, 'sudo: unable to resolve host h2: Name or service not known\nsudo: a password is required\n')).toBe('a password is required');
    expect(sudoRefusal(1, 'sudo: /opt/x: command not found\n')).toBe('/opt/x: command not found');
    // the command ran: its own failure, even after sudo's warning
    expect(sudoRefusal(1, 'sudo: unable to resolve host h2: Name or service not known\nstap-server: no such server\n')).toBeUndefined();
    expect(sudoRefusal(3, 'sudo: a password is required\n')).toBeUndefined();
    expect(sudoRefusal(127, 'sh: 1: exec: sudo: not found\n')).toBe('sudo is not installed');
    expect(sudoRefusal(127, 'bash: line 1: exec: sudo: not found\n')).toBe('sudo is not installed');
    expect(sudoRefusal(127, 'sh: 1: sudo: not found\n')).toBe('sudo is not installed');
    expect(sudoRefusal(127, 'bash: line 1: sudo: command not found\n')).toBe('sudo is not installed');
    expect(sudoRefusal(127, 'sh: 1: stap-server: not found\n')).toBeUndefined();
    expect(sudoRefusalMessage('h3', 'ops', 'a password is required')).toMatch(/^h3: sudo -n did not run the command as root for 'ops': a password is required \(/);
  });
});
