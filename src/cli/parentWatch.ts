/**
 * Calls `onGone` once the process that started this one (`parent`, its pid recorded at this
 * process's start) has exited (checked every `everyMs`), for a process npm started (`npm start`,
 * `npx switchyard serve`: npm sets `npm_command`). npm runs it under `sh -c`, and a SIGTERM to npm
 * ends npm and that shell without passing the signal on: this process would run on, orphaned,
 * holding its port and data directory. `SWITCHYARD_WATCH_NPM=0` watches nothing (an npm script
 * that backgrounds serve on purpose: `nohup switchyard serve &`). Answers a function that stops
 * watching.
 */
export function watchNpmParent(env: NodeJS.ProcessEnv, parent: number, onGone: () => void, everyMs = 1_000): () => void {
  if (env.npm_command === undefined || env.SWITCHYARD_WATCH_NPM === '0') return () => {};
  const timer = setInterval(() => {
    // An orphan is adopted by init or a subreaper: its parent id changes.
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
