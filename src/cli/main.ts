#!/usr/bin/env node
// The `stnet` binary. Exit status via process.exitCode (never process.exit), so stdout is flushed.
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() });
