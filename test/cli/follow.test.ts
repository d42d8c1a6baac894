/**
 * `followThread`, the loop behind `launch`, `watch` and `respond`, against a fake server whose
 * answers the test controls: a pipeline's child that is not there yet when the pipeline names it.
 */
import { describe, expect, it } from 'vitest';
import { ServerError } from '../../src/cli/client.js';
import { followThread } from '../../src/cli/follow.js';
import type { NewEvent } from '../../src/thread/events.js';
import { within } from '../bus/waiting.js';
import { createFakeClient } from './fakeClient.js';

const PARENT = 'p1';
const CHILD = 'p1--research';

const input = (value: string): NewEvent => ({ type: 'input', data: { input: value } });
/** A child's input: launched by the pipeline `parentId`. */
const childInput = (value: string, parentId = PARENT): NewEvent => ({ type: 'input', data: { input: value, source: { kind: 'pipeline', parentId } } });
const delegation: NewEvent = {
  type: 'tool_call',
  data: { callId: 'c1', tool: 'research', args: { threadId: CHILD, agent: 'scout', input: 'dogs' }, idempotencyKey: 'p1:c1', attempt: 1 },
};
const final = (output: string): NewEvent => ({ type: 'final', data: { output } });
const stepResult: NewEvent = { type: 'tool_result', data: { callId: 'c1', tool: 'research', result: 'notes', durationMs: 0 } };

/**
 * Follows the parent, recording what it reports; waits between asks take no time. `onChildDone`
 * runs when a child is reported ended (the pipeline goes on then).
 */
async function follow(client: ReturnType<typeof createFakeClient>, onChildDone?: () => void) {
  const seen: string[] = [];
  const waits: number[] = [];
  const view = await followThread(client, PARENT, {
    onEvent: (event, threadId) => seen.push(`${threadId} ${event.type}`),
    onChild: ({ threadId, view: child }) => {
      seen.push(child === undefined ? `delegated ${threadId}` : `child ${threadId} ${child.status}`);
      if (child?.status === 'done') onChildDone?.();
    },
    wait: async (ms) => {
      waits.push(ms);
    },
  });
  return { view, seen, waits };
}

describe('followThread of a pipeline', () => {
  it('keeps following when the child it just delegated to is not found yet', async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation]);
    client.append(CHILD, 'scout', [childInput('dogs'), final('notes')]);
    client.missing(CHILD, 2);

    const { view, seen, waits } = await follow(client, () => client.append(PARENT, 'article', [stepResult, final('article')]));

    expect(view.status).toBe('done');
    expect(seen).toEqual([
      `${PARENT} input`,
      `${PARENT} tool_call`,
      `delegated ${CHILD}`,
      `${CHILD} input`,
      `${CHILD} final`,
      `child ${CHILD} done`,
      `${PARENT} tool_result`,
      `${PARENT} final`,
    ]);
    expect(waits).toHaveLength(2);
  });

  it('stops waiting for a child that never came when the pipeline ended without it', async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation, { type: 'failed', data: { reason: 'step research: could not launch agent scout' } }]);

    const { view, seen } = await follow(client);

    expect(view.status).toBe('failed');
    expect(seen).toEqual([`${PARENT} input`, `${PARENT} tool_call`, `delegated ${CHILD}`, `${PARENT} failed`]);
  });

  it('does not present a thread the pipeline does not own as its child (its id taken by another parent or a launch of another agent): the pipeline fails without it', async () => {
    const request: NewEvent = { type: 'human_request', data: { requestId: 'r1', kind: 'input', question: 'which?', urgency: 'medium', format: 'free_text' } };
    const foreigners: NewEvent[] = [childInput('cats', 'p2'), { type: 'input', data: { input: 'cats', source: { kind: 'http' } } }];
    for (const foreign of foreigners) {
      const client = createFakeClient();
      client.append(CHILD, 'other', [foreign, request]);
      client.append(PARENT, 'article', [input('dogs'), delegation]);
      // The pipeline's launch of the child is refused: the step, and so the pipeline, fails.
      const failing = setImmediate(() => client.append(PARENT, 'article', [{ type: 'failed', data: { reason: `step research: thread ${CHILD} was not launched by pipeline ${PARENT}` } }]));

      const { view, seen } = await follow(client);
      clearImmediate(failing);

      expect(seen).toEqual([`${PARENT} input`, `${PARENT} tool_call`, `delegated ${CHILD}`, `${PARENT} failed`]);
      expect(view.status).toBe('failed');
    }
  });

  it('gives up with the not-found error after a bounded number of asks when the child never appears', async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation]);

    const error = await follow(client).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).message).toBe(`thread not found: ${CHILD}`);
    const asks = client.requests.filter((r) => r === `events ${CHILD}`).length;
    expect(asks).toBeGreaterThan(2);
    expect(asks).toBeLessThan(100);
  });
});

describe('followThread of a pipeline whose child waits already (watch)', () => {
  const request: NewEvent = {
    type: 'human_request',
    data: { requestId: 'r1', kind: 'approval', question: 'run publish?', urgency: 'medium', format: 'yes_no', tool: 'publish', args: {} },
  };
  const approved: NewEvent = { type: 'human_response', data: { requestId: 'r1', approved: true } };

  /** The lines a watch that follows a pipeline to its end reports, the child answered on the way. */
  const followedToTheEnd = [
    `${PARENT} input`,
    `${PARENT} tool_call`,
    `delegated ${CHILD}`,
    `${CHILD} input`,
    `${CHILD} human_request`,
    `child ${CHILD} awaiting_human`,
    `${CHILD} human_response`,
    `${CHILD} final`,
    `child ${CHILD} done`,
    `${PARENT} tool_result`,
    `${PARENT} final`,
  ];

  it('reports the child it waits on, resting, once the replay reached it, before the child moves', async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation]);
    client.append(CHILD, 'scout', [childInput('dogs'), request]);
    const seen: string[] = [];

    const view = await followThread(client, PARENT, {
      untilMoved: true,
      onEvent: (event, threadId) => {
        seen.push(`${threadId} ${event.type}`);
        // Someone answers the child while the follow is at its request.
        if (event.type === 'human_request') client.append(CHILD, 'scout', [approved, final('notes')]);
      },
      onChild: ({ threadId, view: child }) => {
        seen.push(child === undefined ? `delegated ${threadId}` : `child ${threadId} ${child.status}`);
        if (child?.status === 'done') client.append(PARENT, 'article', [stepResult, final('article')]);
      },
    });

    expect(view.status).toBe('done');
    expect(seen).toEqual(followedToTheEnd);
  });

  /**
   * Follows a pipeline whose child comes to wait for a human after the follow began, the child
   * answered by `answer` once the follow said it waits; the pipeline ends once the child is done.
   */
  async function childWaitsAfterTheFollowBegan(answer: (client: ReturnType<typeof createFakeClient>) => void) {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs')]);
    const seen: string[] = [];
    let answered = false;
    const following = followThread(client, PARENT, {
      untilMoved: true,
      onEvent: (event, threadId) => seen.push(`${threadId} ${event.type}`),
      onChild: ({ threadId, view: child }) => {
        seen.push(child === undefined ? `delegated ${threadId}` : `child ${threadId} ${child.status}`);
        if (child?.status === 'awaiting_human' && !answered) {
          answered = true;
          answer(client);
        }
        if (child?.status === 'done') client.append(PARENT, 'article', [stepResult, final('article')]);
      },
    });
    // The pipeline delegates after the follow began; its child then waits for a human.
    await new Promise((resolve) => setImmediate(resolve));
    client.append(PARENT, 'article', [delegation]);
    client.append(CHILD, 'scout', [childInput('dogs'), request]);
    return { view: await following, seen };
  }

  it('follows on, as when it began there, when a child comes to wait for a human after the follow began (QA19 pipelines #4)', async () => {
    // Someone answers the child once the follow said it waits (the watcher read how to answer).
    const { view, seen } = await childWaitsAfterTheFollowBegan((client) => setImmediate(() => client.append(CHILD, 'scout', [approved, final('notes')])));
    expect(view.status).toBe('done');
    expect(seen).toEqual(followedToTheEnd);
  });

  it('follows on when the child that came to rest is answered at once, before the follow reads it again (review)', async () => {
    // An automated responder answers as soon as it hears of the request; the result comes later.
    const { view, seen } = await childWaitsAfterTheFollowBegan((client) => {
      client.append(CHILD, 'scout', [approved]);
      setImmediate(() => client.append(CHILD, 'scout', [final('notes')]));
    });
    expect(view.status).toBe('done');
    expect(seen).toEqual(followedToTheEnd);
  });

  it("says which of the child's requests are still open: one answered before the follow began is past", async () => {
    const second: NewEvent = {
      type: 'human_request',
      data: { requestId: 'r2', kind: 'approval', question: 'run publish again?', urgency: 'medium', format: 'yes_no', tool: 'publish', args: {} },
    };
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation]);
    client.append(CHILD, 'scout', [childInput('dogs'), request, approved, second]);
    const requests: string[] = [];

    await followThread(client, PARENT, {
      untilMoved: true,
      onEvent: (event, threadId, open) => {
        if (event.type === 'human_request') requests.push(`${threadId} ${event.data.requestId} ${open ? 'open' : 'past'}`);
        if (event.type === 'human_request' && event.data.requestId === 'r2') client.append(CHILD, 'scout', [{ type: 'human_response', data: { requestId: 'r2', approved: true } }, final('notes')]);
      },
      onChild: ({ view: child }) => {
        if (child?.status === 'done') client.append(PARENT, 'article', [stepResult, final('article')]);
      },
    });

    expect(requests).toEqual([`${CHILD} r1 past`, `${CHILD} r2 open`]);
  });
});

describe('followThread of a thread that goes quiet', () => {
  it('says so once per quiet spell, with the thread, and keeps following', async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs')]);
    const quiet: string[] = [];

    const view = await followThread(client, PARENT, {
      quietMs: 10,
      onQuiet: (threadId) => {
        quiet.push(threadId);
        // The worker comes after the first spell; it says nothing then, and the thread ends.
        if (quiet.length === 1) client.append(PARENT, 'article', [final('article')]);
      },
    });

    expect(view.status).toBe('done');
    expect(quiet).toEqual([PARENT]);
  });

  it('says what the thread waits for then: a human answer, or a resume, or nothing yet (running)', async () => {
    const request: NewEvent = { type: 'human_request', data: { requestId: 'r1', kind: 'input', question: 'which?', urgency: 'medium', format: 'free_text' } };
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), request]);
    const quiet: string[] = [];

    // watch: it rests waiting for a human, and is followed until it moves.
    const view = await followThread(client, PARENT, {
      untilMoved: true,
      quietMs: 10,
      onQuiet: (threadId, status) => {
        quiet.push(`${threadId} ${status}`);
        if (quiet.length === 1) client.append(PARENT, 'article', [{ type: 'human_response', data: { requestId: 'r1', answer: 'dogs' } }]);
        if (quiet.length === 2) client.append(PARENT, 'article', [final('article')]);
      },
    });

    expect(view.status).toBe('done');
    expect(quiet).toEqual([`${PARENT} awaiting_human`, `${PARENT} running`]);
  });

  it("names a pipeline's child that goes quiet while the follow is at it", async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation]);
    client.append(CHILD, 'scout', [childInput('dogs')]);
    const quiet: string[] = [];

    const view = await followThread(client, PARENT, {
      quietMs: 50,
      onQuiet: (threadId) => {
        quiet.push(threadId);
        if (threadId === CHILD) client.append(CHILD, 'scout', [final('notes')]);
      },
      onChild: ({ view: child }) => {
        if (child?.status === 'done') client.append(PARENT, 'article', [stepResult, final('article')]);
      },
    });

    expect(view.status).toBe('done');
    expect(quiet).toEqual([CHILD]);
  });
});

describe('followThread of a pipeline from an event after its delegation (resume)', () => {
  const request: NewEvent = {
    type: 'human_request',
    data: { requestId: 'r1', kind: 'approval', question: 'run publish?', urgency: 'medium', format: 'yes_no', tool: 'publish', args: {} },
  };
  const pause: NewEvent = { type: 'control', data: { action: 'pause', by: 'root' } };
  const resume: NewEvent = { type: 'control', data: { action: 'resume', by: 'root' } };

  it('stops at the child it waits on that waits for a human, as a launch does, reporting only what came after (QA24 pipelines #2)', async () => {
    const client = createFakeClient();
    client.append(PARENT, 'article', [input('dogs'), delegation, pause, resume]);
    client.append(CHILD, 'scout', [childInput('dogs'), request]);
    const seen: string[] = [];

    // As `resume` follows: from the event before the resume's.
    const view = await within(
      followThread(client, PARENT, {
        reportAfter: 3,
        atLeast: 4,
        onEvent: (event, threadId) => seen.push(`${threadId} ${event.type}`),
        onChild: ({ threadId, view: child }) => seen.push(child === undefined ? `delegated ${threadId}` : `child ${threadId} ${child.status}`),
      }),
      2_000,
      'the follow of the resumed pipeline to stop at its waiting child',
    );

    expect(view.status).toBe('running');
    expect(seen).toEqual([`${PARENT} control`, `delegated ${CHILD}`, `child ${CHILD} awaiting_human`]);
  });
});
