#!/usr/bin/env node
import { main } from '../fleet/cli.js';

// A closed pipe (stap-fleet status | head) is not an error worth a stack trace.
for (const s of [process.stdout, process.stderr]) s.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') throw e; });
process.exitCode = await main(process.argv.slice(2));
