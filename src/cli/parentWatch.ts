/**
 * Calls `onGone` once the process that started this one has exited (checked every `everyMs`), for
 * a process npm started (`npm start`, `npx switchyard serve`: npm sets `npm_command`). npm runs it
 * under `sh -c`, and a SIGTERM to npm ends npm and that shell without passing the signal on: this
 * process would run on, orphaned, holding its port and data directory. Answers a function that
 * stops watching.
 */
export function watchNpmParent(env: NodeJS.ProcessEnv, onGone: () => void, everyMs = 1_000): () => void {
  if (env.npm_command === undefined) return () => {};
  const parent = process.ppid;
  const timer = setInterval(() => {
    // An orphan is adopted by init or a subreaper: its parent id changes.
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
