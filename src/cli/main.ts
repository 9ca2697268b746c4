#!/usr/bin/env node
// The `stnet` binary. Exit status via process.exitCode (never process.exit), so stdout is flushed.
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() });
// `--input_path -` read stdin: once unpiped it is only paused, and its open pipe would keep the finished process
// alive for as long as the writer keeps it open (a live stream interrupted with Ctrl-C). Otherwise stdin is not touched.
if (process.argv.includes('-') && process.stdin.readableFlowing !== null) process.stdin.destroy();
