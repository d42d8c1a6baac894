import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** A process of this host whose parent never reaps it (Linux only: its state is read in /proc). */
export interface UnreapedProcess {
  readonly pid: number;
  /** SIGKILLs it and resolves once it is a zombie: dead, but its pid still answers `kill(pid, 0)`. */
  killToZombie(): Promise<void>;
  /** Ends it and its parent (whose end lets init reap the zombie). */
  dispose(): void;
}

/** The command name of `/proc/<pid>/stat` (`sh`, `sleep`), `undefined` once the pid is gone. */
function commandOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return undefined;
  }
}

/** The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`...), `undefined` once the pid is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * Starts `sleep` as the child of a shell that then becomes a `sleep` itself (`exec`), which never
 * waits for its children: once killed, the first `sleep` stays a zombie until its parent ends,
 * as a killed `serve` does until its parent (init, for a serve started in the background by a
 * script that exited) reaps it.
 */
export async function unreapedProcess(): Promise<UnreapedProcess> {
  const parent: ChildProcess = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    parent.once('error', reject);
    parent.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  // Until the shell has become `sleep` it may still reap the child killed (a loaded machine ran
  // the kill between the shell's echo and its exec: the pid was gone, not a zombie).
  for (let i = 0; i < 250 && parent.pid !== undefined && commandOf(parent.pid) !== 'sleep'; i++) await delay(20);
  if (parent.pid === undefined || commandOf(parent.pid) !== 'sleep') throw new Error(`the shell ${String(parent.pid)} did not exec sleep`);
  return {
    pid,
    async killToZombie() {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 250 && stateOf(pid) !== 'Z'; i++) await delay(20);
      if (stateOf(pid) !== 'Z') throw new Error(`pid ${pid} did not turn into a zombie (state ${String(stateOf(pid))})`);
    },
    dispose() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // dead already
      }
      parent.kill('SIGKILL');
    },
  };
}
