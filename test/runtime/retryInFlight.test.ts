/**
 * A backing-off thread whose retry is in flight (its `wakeAt` passed, an actor asks the model
 * again): its stored status stays `backing_off`, but its view says an actor runs it (`live`), and
 * `show` says the retry was due since then, and is running now, instead of a past "wakes" time.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { threadDetails } from '../../src/cli/format.js';
import type { Model, ModelRequest } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { viewOf } from '../../src/runtime/threadView.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { deferred } from '../bus/waiting.js';

const answerer = agent({ name: 'answerer', description: 'answers', prompt: 'p', tools: [] });

/** HH:MM:SS in local time, as show prints a clock time. */
const clockOf = (ms: number): string => new Date(ms).toTimeString().slice(0, 8);

describe('a backing-off thread whose retry runs', () => {
  it('is live in the runtime’s view while its retried model call is in flight, and show says the retry runs now', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const failing = scriptedModel([{ error: { kind: 'http', status: 500, message: 'upstream broke' } }]);
    const retried = deferred<ModelRequest>();
    const model: Model = {
      name: 'm',
      complete: (request) => {
        if (failing.requests.length === 0) return failing.complete(request);
        retried.resolve(request);
        return new Promise(() => undefined);
      },
    };
    const rt = createRuntime({ agents: [answerer], store: createMemoryStore(), model, clock });
    const { id } = await rt.launch('answerer', 'go');
    for await (const event of rt.watch(id)) if (event.type === 'error') break;
    const waiting = (await rt.get(id))!;
    expect(waiting.status).toBe('backing_off');
    const wakeAt = Date.parse(waiting.wakeAt!);
    clock.increment(wakeAt - clock.now());
    await retried.promise;

    const view = (await rt.get(id))!;
    expect(view.status).toBe('backing_off');
    expect(view.live).toBe(true);
    const details = threadDetails(view, undefined, undefined, wakeAt + 7_000);
    expect(details).toContain(`retry    running now (due since ${clockOf(wakeAt)}, 7 s ago)`);
    expect(details).not.toContain('wakes');
    await rt.close();
  });

  it('show says a retry due in the past is due since then, not that the thread wakes then', () => {
    const retryAt = Date.parse('2026-01-01T00:00:02Z');
    const events = [
      { type: 'input', data: { input: 'go' } },
      { type: 'error', data: { kind: 'model_timeout', message: 'the model did not answer within 8000 ms', attempt: 1, retryAt: new Date(retryAt).toISOString() } },
    ].map((e, i) => ({ ...e, seq: i + 1, at: '2026-01-01T00:00:00.000Z' })) as ThreadEvent[];
    const view = viewOf({ id: 't1', agent: 'answerer', events });
    expect(view.status).toBe('backing_off');
    const past = threadDetails(view, undefined, undefined, retryAt + 65_000);
    expect(past).toContain(`retry    due since ${clockOf(retryAt)} (1m 5s ago)`);
    expect(past).not.toContain('wakes');
    // Still ahead: the wake time as before.
    expect(threadDetails(view, undefined, undefined, retryAt - 1_000)).toContain('wakes    2026-01-01');
  });
});
