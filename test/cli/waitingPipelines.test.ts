/**
 * `threads --waiting` names the pipeline of each waiting child: one GET /threads/:id per row whose
 * id a child may have. They were sent all at once (up to --limit 10000 requests in flight against
 * one server); a few at a time now.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '../../src/cli/client.js';
import { pipelinesOf } from '../../src/cli/threadCommands.js';
import type { ThreadSummary } from '../../src/store/threadStore.js';

describe('the pipelines of the waiting rows', () => {
  it('are read at most 8 at a time, every row read once', async () => {
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const client = {
      get: (id: string) => {
        asked.push(id);
        most = Math.max(most, ++inFlight);
        return new Promise((_resolve, reject) =>
          setImmediate(() => {
            inFlight--;
            reject(new Error(`not found: ${id}`));
          }),
        );
      },
    } as unknown as Client;
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: `th_p${i}--ship`, pending: { kind: 'approval' } }) as unknown as ThreadSummary);
    const parents = await pipelinesOf(client, rows);
    expect(parents.size).toBe(0);
    expect(asked.sort()).toEqual(rows.map((r) => r.id).sort());
    expect(most).toBeLessThanOrEqual(8);
  });
});
