/**
 * The note a follow prints when its thread stays quiet: only for an agent `GET /agents` says no
 * worker serves (`served: false`), at most once, and never in the way of the follow.
 */
import { describe, expect, it } from 'vitest';
import { ServerError, type AgentSummary } from '../../src/cli/client.js';
import { unservedNote } from '../../src/cli/unservedNote.js';
import { createFakeClient } from './fakeClient.js';

/** A note over a client whose `GET /agents` answers what `answers` holds next (an error is thrown). */
function noteOf(answers: (AgentSummary[] | Error)[]) {
  const lines: string[] = [];
  let asked = 0;
  const client = {
    ...createFakeClient(),
    agents: async () => {
      const answer = answers[Math.min(asked++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { note: unservedNote(client, (line) => lines.push(line), 'switchyard'), lines, asked: () => asked };
}

const agentOf = (name: string, served?: boolean): AgentSummary => ({ name, kind: 'agent', ...(served === undefined ? {} : { served }) });

describe('unservedNote', () => {
  it('names the agent no worker serves and the worker command, once however often it is asked', async () => {
    const { note, lines, asked } = noteOf([[agentOf('other', true), agentOf('calculator', false)]]);
    await note.ask('calculator');
    await note.ask('calculator');
    expect(lines).toEqual([
      "note: no worker serves calculator, so its thread waits (still following): start one on the server's NATS (same --prefix and --bucket): switchyard worker --agents calculator",
    ]);
    expect(asked()).toBe(1);
  });

  it('says of a thread that waits for a human (or a resume) that it waits for that, and that a worker will be needed after it, not that the missing worker holds it', async () => {
    const worker = "start one on the server's NATS (same --prefix and --bucket): switchyard worker --agents calculator";
    for (const [status, line] of [
      ['awaiting_human', `note: the calculator thread waits for a human answer (still following), and no worker serves calculator: one will be needed to continue after the answer; ${worker}`],
      ['escalated', `note: the calculator thread waits for a human answer (still following), and no worker serves calculator: one will be needed to continue after the answer; ${worker}`],
      ['paused', `note: the calculator thread is paused (still following), and no worker serves calculator: one will be needed to continue after a resume; ${worker}`],
      ['running', `note: no worker serves calculator, so its thread waits (still following): ${worker}`],
    ] as const) {
      const { note, lines } = noteOf([[agentOf('calculator', false)]]);
      await note.ask('calculator', status);
      expect(lines).toEqual([line]);
    }
  });

  it('says nothing for an agent a worker serves, nor when the server does not say (it runs the threads itself), nor for an agent it does not list', async () => {
    for (const listed of [[agentOf('calculator', true)], [agentOf('calculator')], [agentOf('other', false)]]) {
      const { note, lines, asked } = noteOf([listed]);
      await note.ask('calculator');
      expect(asked()).toBe(1);
      expect(lines).toEqual([]);
    }
  });

  it('ignores a failed request and asks again at the next quiet spell', async () => {
    const { note, lines } = noteOf([new ServerError('unavailable', 503), [agentOf('calculator', false)]]);
    await note.ask('calculator');
    expect(lines).toEqual([]);
    await note.ask('calculator');
    expect(lines).toHaveLength(1);
  });

  it('says nothing once the follow ended', async () => {
    const { note, lines, asked } = noteOf([[agentOf('calculator', false)]]);
    note.close();
    await note.ask('calculator');
    expect(asked()).toBe(0);
    expect(lines).toEqual([]);
  });
});
