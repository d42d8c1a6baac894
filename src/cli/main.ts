#!/usr/bin/env node
// The `switchyard` command. Everything is in program.ts; this file only binds it to the process.
import { runCli } from './program.js';

let stopRequested: ((signal: string) => void) | undefined;
const stopped = new Promise<string>((resolve) => {
  stopRequested = resolve;
});
let signals = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  signals++;
  // A second Ctrl+C while shutting down: stop now.
  if (signals > 1) process.exit(130);
  stopRequested?.(signal);
};

process.exitCode = await runCli(process.argv, {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  stopped: () => {
    // Only `serve` waits for a signal; the client commands keep the default (exit at once).
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    return stopped;
  },
});
