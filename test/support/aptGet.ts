import { spawnSync } from 'node:child_process';

/**
 * Runs an apt-get command synchronously (test setup installing a Debian package), printing the
 * last line of its output and throwing with the tail of it, plus `hint`, when it fails.
 */
export function aptGet(args: readonly string[], label: string, hint: string): void {
  const result = spawnSync('apt-get', args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const lastLine = (result.stdout ?? '').trim().split('\n').at(-1) ?? '';
  process.stderr.write(`[${label}] apt-get ${args.join(' ')}: ${lastLine}\n`);
  if (result.error || result.status !== 0) {
    const tail = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim().split('\n').slice(-10).join('\n');
    throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status ?? 'none'}): ${result.error?.message ?? tail}\n${hint}`);
  }
}
