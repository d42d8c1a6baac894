import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { SystemError } from '../../src/errors.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { eventually, uniqueToken, useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();

/** A logger at warn whose lines are kept, parsed. */
function capturingLines() {
  const { logger, out } = capturingLogger('warn');
  return { logger, lines: out.lines };
}

describe('NATS warnings about a thread', () => {
  it('a job whose thread the store cannot read is logged as a NATS error naming the thread and its agent as fields', async () => {
    const prefix = `sy${uniqueToken()}`;
    const { logger, lines } = capturingLines();
    const node = await bed.node({ agents: [calculator], model: createDemoModel(), prefix, logger });
    // The KV store during an outage: every write of a thread times out.
    const store = node.store as { -readonly [K in keyof ThreadStore]: ThreadStore[K] };
    store.create = (thread) => Promise.reject(new SystemError(`cannot read thread ${thread.id}: timeout`));
    const threadId = `nf-${uniqueToken()}`;
    await bed.client.trigger(`${prefix}.trigger.calculator`, { input: 'what is 1 + 1', threadId }, { msgId: `m-${uniqueToken()}` });
    const line = await eventually(async () => lines.find((l) => l.msg === 'NATS error' && String(l.err).includes(threadId)), 15_000, 'the NATS error of the job');
    expect(line).toMatchObject({ threadId, agent: 'calculator', queue: expect.any(String), err: `cannot read thread ${threadId}: timeout` });
  });
});
