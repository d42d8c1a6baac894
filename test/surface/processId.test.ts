/**
 * `newProcessId`: the id a process is named by on `events` (`Switchyard-Process`), in its log
 * (`processId`) and in the inspector's subjects, rows and presence, which must all say the same.
 */
import { describe, expect, it, vi } from 'vitest';
import { subjectToken } from '../../src/inspector/busInspector.js';
import { newProcessId } from '../../src/surface/attachBus.js';

// A dotted hostname, as macOS (`name.local`) and EC2 (`ip-10-0-0-1.ec2.internal`) give.
vi.mock('node:os', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:os')>()), hostname: () => 'ip-10-0-0-1.ec2.internal' }));

describe('newProcessId', () => {
  it('is one subject token, so the inspector names the process as its events and log do', () => {
    const id = newProcessId();
    expect(id).toMatch(new RegExp(`^ip-10-0-0-1_ec2_internal-${process.pid}-[0-9a-f]{6}$`));
    expect(subjectToken(id)).toBe(id);
  });
});
