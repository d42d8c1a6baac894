/**
 * What `pause` and `cancel` say at once (on stderr) when the server will wait for a call the
 * thread runs before it answers: the running tool call (its tool, call id and start), or, for a
 * pause, the model call in flight. Nothing when no call of it runs in the server's own actors.
 */
import { describe, expect, it } from 'vitest';
import { waitedCallLine } from '../../src/cli/format.js';
import { viewOf, type ThreadView } from '../../src/runtime/threadView.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { publishCallStarted } from '../support/heldTool.js';

const AT = '2026-01-01T12:30:12.000Z';
const stamped = (events: readonly object[]): ThreadEvent[] => events.map((e, i) => ({ ...e, seq: i + 1, at: AT })) as ThreadEvent[];
const clock = new Date(AT).toTimeString().slice(0, 8);

describe('the line pause and cancel print before they wait', () => {
  it('names the running tool call, its id and when it started, for a cancel and a pause, when the server runs it', () => {
    const view: ThreadView = { ...viewOf({ id: 't1', agent: 'publisher', events: stamped(publishCallStarted('t1')) }), live: true };
    expect(waitedCallLine(view, 'cancel')).toBe(`waiting for the running call publish (c1, started ${clock}) to finish before cancelling`);
    expect(waitedCallLine(view, 'pause')).toBe(`waiting for the running call publish (c1, started ${clock}) to finish before pausing`);
  });

  it('says a pause waits for the model call in flight (a decision being made), and a cancel does not', () => {
    const view: ThreadView = { ...viewOf({ id: 't1', agent: 'publisher', events: stamped([{ type: 'input', data: { input: 'go' } }]) }), live: true };
    expect(waitedCallLine(view, 'pause')).toBe('waiting for the model call in flight to finish before pausing');
    expect(waitedCallLine(view, 'cancel')).toBeUndefined();
  });

  it('says nothing when no actor of the server runs the thread (another process runs the call: nothing is waited for)', () => {
    const view = viewOf({ id: 't1', agent: 'publisher', events: stamped(publishCallStarted('t1')) });
    expect(waitedCallLine(view, 'cancel')).toBeUndefined();
  });
});
