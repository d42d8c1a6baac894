#!/usr/bin/env node
// The `switchyard` command. Everything is in program.ts; this file only binds it to the process.
import { watchNpmParent } from './parentWatch.js';
import { runCli } from './program.js';

/** The process that started this one, as at its start (npm's shell under `npm start`): see watchNpmParent. */
const startParent = process.ppid;
let stopRequested: ((signal: string) => void) | undefined;
const stopped = new Promise<string>((resolve) => {
  stopRequested = resolve;
});
/**
 * A repeat of the stop signal this soon after the first is the same stop: a process group was
 * signalled, and a wrapper in it (`timeout`, a shell) passed the signal on.
 */
const REPEAT_MS = 1_000;
let firstAt: number | undefined;
/** The command waits for a stop signal (`serve`, `worker`). */
let waits = false;
/**
 * The first stop: said on stderr, then the command shuts down (`why`: a signal, or what happened;
 * `again`: how to stop at once).
 */
const stopFirst = (why: string, reason: string, again = 'send the signal again to stop at once'): void => {
  firstAt = Date.now();
  process.stderr.write(`switchyard: ${why}: stopping: letting the work in progress finish (${again})\n`);
  stopRequested?.(reason);
};
const onSignal = (signal: NodeJS.Signals): void => {
  const now = Date.now();
  if (firstAt === undefined) {
    stopFirst(signal, signal);
    return;
  }
  if (now - firstAt < REPEAT_MS) return;
  // Asked again while shutting down: stop now.
  process.stderr.write(`switchyard: ${signal} again: stopping at once: a tool call cut short asks a human whether it took effect\n`);
  process.exit(130);
};

// Output piped into a reader that stopped reading (`switchyard watch <id> | head`): a client
// command ends quietly, as `git log | head` does; serve and worker stop as on a signal (their
// output has nowhere to go), instead of dying on an unhandled EPIPE.
const onBrokenPipe = (error: NodeJS.ErrnoException): void => {
  if (error.code !== 'EPIPE') throw error;
  if (!waits) process.exit(0);
  // The first stop: a signal after it stops at once, as a repeated one does.
  firstAt ??= Date.now();
  stopRequested?.('EPIPE');
};
process.stdout.on('error', onBrokenPipe);
process.stderr.on('error', onBrokenPipe);

const code = await runCli(process.argv, {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  stopped: () => {
    // Only `serve` and `worker` wait for a signal; the client commands keep the default (exit at once).
    // SIGHUP (the terminal or ssh session of a foreground serve closed) is a stop like the others.
    waits = true;
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal).on('SIGHUP', onSignal);
    // Under `npm start` or `npx`, npm stopped with a SIGTERM leaves this process running: it stops too.
    watchNpmParent(process.env, startParent, () => {
      if (firstAt === undefined) stopFirst('the process that started it (npm) exited', 'SIGTERM', 'send SIGTERM or SIGINT to stop at once');
    });
    return stopped;
  },
});
if (!waits) process.exitCode = code;
else {
  // Stopped (by a signal, or by the loss of serve's data directory to another) and shut down: exit
  // now. A tool call aborted at the drain deadline that ignores its signal would keep the process
  // alive, running it while its thread may already be taken by another process; it dies with the
  // process instead, and its thread asks a human.
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/** Resolves once what was written to `stream` so far is handed to the system. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
