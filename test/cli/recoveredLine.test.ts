/**
 * What `serve` prints after `recover()`: embedded, the threads it runs again were left moving by a
 * process that stopped; on NATS every thread marked as moving is handed to the workers at each
 * start, the ones live workers move included, so the line must not say a process stopped (QA: an
 * operator read "recovered ... when the last process stopped" at every start as a crash).
 */
import { describe, expect, it } from 'vitest';
import { recoveredLine } from '../../src/cli/serve.js';

describe('recoveredLine', () => {
  it('embedded: names the threads the last process left running', () => {
    expect(recoveredLine(1, false)).toBe('recovered 1 thread that was running, backing off or sleeping when the last process stopped');
    expect(recoveredLine(3, false)).toBe('recovered 3 threads that were running, backing off or sleeping when the last process stopped');
  });

  it('on NATS: says the threads marked running were handed to the workers, not that a process stopped', () => {
    expect(recoveredLine(1, true)).toBe('handed 1 thread marked running to the workers: they continue any whose run stopped');
    expect(recoveredLine(2, true)).toMatch(/^handed 2 threads marked running to the workers/);
    expect(recoveredLine(2, true)).not.toContain('last process');
  });
});
