import { execFileSync } from 'node:child_process';

// Tests drive the real binaries (dist/bin/*.js), so compile once before any suite runs.
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
