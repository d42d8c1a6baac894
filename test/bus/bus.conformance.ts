import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus, BusErrorContext, BusMessage, BusOptions, DeadLetter, Job } from '../../src/bus/bus.js';
import { isBusError } from '../../src/bus/bus.js';
import { messageBytes } from '../../src/bus/busMessage.js';
import { collector, deferred, delay, eventually, uniqueToken, within } from './waiting.js';

/** What a bus implementation's test file hands to {@link runBusConformance}. */
export type BusFactory = (options?: BusOptions) => Promise<{ bus: Bus; cleanup(): Promise<void> }>;

/** Bound for any single "it arrives" wait. */
const ARRIVES_MS = 5_000;
/** A short window in which "nothing else arrives" is checked. */
const QUIET_MS = 150;

/**
 * The Bus conformance suite (hono's `common.case.test.ts` pattern): every implementation runs it.
 * Subjects and queue names are unique per test so implementations sharing a server stay isolated.
 */
export function runBusConformance(name: string, factory: BusFactory): void {
  describe(`Bus conformance: ${name}`, () => {
    let bus: Bus;
    let cleanup: () => Promise<void>;
    let errors: { error: unknown; context: BusErrorContext }[];
    let p: string;

    beforeEach(async () => {
      errors = [];
      p = uniqueToken();
      ({ bus, cleanup } = await factory({ onError: (error, context) => errors.push({ error, context }) }));
    });

    afterEach(async () => {
      await cleanup();
    });

    /** Subscribes, records subjects, and makes the subscription visible before returning. */
    async function record(pattern: string, options?: { queue?: string }) {
      const got = collector<BusMessage>();
      const sub = bus.subscribe(pattern, (msg) => got.push(msg), options);
      await bus.flush();
      return { got, sub, subjects: () => got.items.map((m) => m.subject) };
    }

    describe('subjects', () => {
      it('delivers an exact subject and nothing else', async () => {
        const { got, subjects } = await record(`${p}.a.b`);
        for (const s of [`${p}.a`, `${p}.a.c`, `${p}.a.b.c`, `${p}.b.b`]) await bus.publish(s, 'no');
        await bus.publish(`${p}.a.b`, 'yes');
        await got.until(1, ARRIVES_MS);
        // Order is kept per publisher: anything that wrongly matched would have arrived first.
        expect(subjects()).toEqual([`${p}.a.b`]);
        expect(got.items[0]!.text()).toBe('yes');
      });

      it("matches '*' as exactly one token", async () => {
        const { got, subjects } = await record(`${p}.*.x`);
        for (const s of [`${p}.a.x`, `${p}.a.b.x`, `${p}.x`, `${p}.a.y`, `${p}.b.x`]) await bus.publish(s, s);
        await got.until(2, ARRIVES_MS);
        await bus.publish(`${p}.end.x`, 'end');
        await got.until(3, ARRIVES_MS);
        expect(subjects()).toEqual([`${p}.a.x`, `${p}.b.x`, `${p}.end.x`]);
      });

      it("matches '>' as one or more trailing tokens", async () => {
        const { got, subjects } = await record(`${p}.a.>`);
        for (const s of [`${p}.a`, `${p}.a.b`, `${p}.b.c`, `${p}.a.b.c.d`, `${p}.ab.c`]) await bus.publish(s, s);
        await bus.publish(`${p}.a.end`, 'end');
        await got.until(3, ARRIVES_MS);
        expect(subjects()).toEqual([`${p}.a.b`, `${p}.a.b.c.d`, `${p}.a.end`]);
      });

      it("combines '*' and '>'", async () => {
        const { got, subjects } = await record(`${p}.*.mid.>`);
        for (const s of [`${p}.x.mid`, `${p}.x.y.mid.z`, `${p}.x.mid.z`, `${p}.mid.z`]) await bus.publish(s, s);
        await bus.publish(`${p}.y.mid.a.b`, 'end');
        await got.until(2, ARRIVES_MS);
        expect(subjects()).toEqual([`${p}.x.mid.z`, `${p}.y.mid.a.b`]);
      });

      it('rejects malformed subjects and patterns', async () => {
        for (const bad of ['', `${p}.*`, `${p}.>`, `${p}..a`, `.${p}`, `${p}.`, `${p} a`]) {
          await expect(bus.publish(bad, 'x'), bad).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
        }
        for (const bad of ['', `${p}.>.a`, `${p}..a`, `${p}.a*`, `${p} a`]) {
          expect(() => bus.subscribe(bad, () => {}), bad).toThrow(expect.objectContaining({ code: 'invalid_subject' }));
        }
      });

      it('stops delivering after unsubscribe', async () => {
        const { got, sub } = await record(`${p}.u`);
        const witness = await record(`${p}.u`);
        await bus.publish(`${p}.u`, 1);
        await got.until(1, ARRIVES_MS);
        await sub.unsubscribe();
        await sub.unsubscribe(); // idempotent
        await bus.publish(`${p}.u`, 2);
        await witness.got.until(2, ARRIVES_MS);
        await bus.flush();
        expect(got.items.map((m) => m.json())).toEqual([{ success: true, data: 1 }]);
      });
    });

    describe('queue groups', () => {
      it('gives each message to exactly one member; plain subscribers get all', async () => {
        const members = [0, 1, 2].map(() => collector<number>());
        members.forEach((m, i) =>
          bus.subscribe(`${p}.work`, (msg) => m.push(Number(msg.text()) * 10 + i), { queue: 'workers' }),
        );
        const plain = await record(`${p}.work`);
        const total = 30;
        for (let n = 0; n < total; n++) await bus.publish(`${p}.work`, String(n));
        await plain.got.until(total, ARRIVES_MS);
        await eventually(
          async () => (members.reduce((sum, m) => sum + m.items.length, 0) >= total ? true : undefined),
          ARRIVES_MS,
          'queue deliveries',
        );
        await bus.flush();
        await delay(QUIET_MS);
        const handled = members.flatMap((m) => m.items.map((v) => Math.floor(v / 10)));
        expect(handled).toHaveLength(total);
        expect(new Set(handled).size).toBe(total);
        expect(members.filter((m) => m.items.length > 0).length).toBeGreaterThanOrEqual(2);
      });

      it('groups members by queue name across patterns, and separate queues each get a copy', async () => {
        const q1 = collector<string>();
        const q2 = collector<string>();
        bus.subscribe(`${p}.*`, (msg) => q1.push(`star:${msg.text()}`), { queue: 'q1' });
        bus.subscribe(`${p}.x`, (msg) => q1.push(`exact:${msg.text()}`), { queue: 'q1' });
        bus.subscribe(`${p}.>`, (msg) => q2.push(msg.text()), { queue: 'q2' });
        await bus.flush();
        for (let n = 0; n < 10; n++) await bus.publish(`${p}.x`, String(n));
        await q2.until(10, ARRIVES_MS);
        await q1.until(10, ARRIVES_MS);
        await bus.flush();
        await delay(QUIET_MS);
        expect(q1.items).toHaveLength(10);
        expect(new Set(q1.items.map((s) => s.split(':')[1])).size).toBe(10);
      });
    });

    describe('request/reply', () => {
      it('round-trips a request and its reply, with headers both ways', async () => {
        bus.subscribe(`${p}.svc.echo`, async (msg) => {
          const body = msg.json();
          await bus.respond(msg, { echo: body.success ? body.data : null, trace: msg.headers['X-Trace-Id'] }, {
            headers: { 'X-Replied-By': 'echo' },
          });
        });
        await bus.flush();
        const reply = await bus.request(`${p}.svc.echo`, { hello: 'world' }, { headers: { 'X-Trace-Id': 't-1' } });
        expect(reply.json()).toEqual({ success: true, data: { echo: { hello: 'world' }, trace: 't-1' } });
        expect(reply.headers['X-Replied-By']).toBe('echo');
      });

      it('rejects with no_responders when nobody listens', async () => {
        const error = await bus.request(`${p}.nobody`, 'x', { timeoutMs: 3_000 }).catch((e: unknown) => e);
        expect(isBusError(error, 'no_responders')).toBe(true);
      });

      it('rejects with timeout when the responder stays silent', async () => {
        bus.subscribe(`${p}.silent`, () => {});
        await bus.flush();
        const error = await bus.request(`${p}.silent`, 'x', { timeoutMs: 200 }).catch((e: unknown) => e);
        expect(isBusError(error, 'timeout')).toBe(true);
      });

      it('rejects respond() to a message without a reply subject', async () => {
        const { got } = await record(`${p}.noreply`);
        await bus.publish(`${p}.noreply`, 'x');
        const [msg] = await got.until(1, ARRIVES_MS);
        expect(msg!.reply).toBeUndefined();
        await expect(bus.respond(msg!, 'y')).rejects.toSatisfy((e) => isBusError(e, 'no_reply'));
      });

      it('passes a publish reply subject through', async () => {
        const replies = await record(`${p}.replies.one`);
        bus.subscribe(`${p}.ask`, (msg) => bus.respond(msg, `re:${msg.text()}`));
        await bus.flush();
        await bus.publish(`${p}.ask`, 'q', { reply: `${p}.replies.one` });
        const [reply] = await replies.got.until(1, ARRIVES_MS);
        expect(reply!.text()).toBe('re:q');
      });
    });

    describe('messages', () => {
      it('carries a message of maxMessageBytes(), payload and headers together as messageBytes counts them, and refuses one byte more', async () => {
        const largest = bus.maxMessageBytes!();
        expect(largest).toBeGreaterThan(0);
        const { got } = await record(`${p}.max`);
        const headers = { 'X-Trace-Id': 'abc-123' };
        // Unbounded (in memory): a message of 1 MiB stands for any size.
        const size = Number.isFinite(largest) ? largest : 1024 * 1024;
        const payload = new Uint8Array(size - messageBytes(new Uint8Array(0), headers)).fill(0x61);
        expect(messageBytes(payload, headers)).toBe(size);
        await bus.publish(`${p}.max`, payload, { headers });
        const [arrived] = await got.until(1, ARRIVES_MS);
        expect(arrived!.data.length).toBe(payload.length);
        if (Number.isFinite(largest)) {
          const over = bus.publish(`${p}.max`, new Uint8Array(payload.length + 1), { headers });
          await expect(over).rejects.toSatisfy((error: unknown) => isBusError(error));
        }
      });

      it('round-trips headers', async () => {
        const { got } = await record(`${p}.h`);
        const headers = { 'X-Trace-Id': 'abc-123', 'Content-Type': 'application/json', 'x-lower': 'v w' };
        await bus.publish(`${p}.h`, { a: 1 }, { headers });
        await bus.publish(`${p}.h`, 'no headers');
        const [withHeaders, without] = await got.until(2, ARRIVES_MS);
        expect(withHeaders!.headers).toEqual(headers);
        expect(without!.headers).toEqual({});
      });

      it('encodes payloads and parses JSON without throwing', async () => {
        const { got } = await record(`${p}.p`);
        await bus.publish(`${p}.p`, { n: 1, list: [true, null] });
        await bus.publish(`${p}.p`, 'plain text, not JSON');
        await bus.publish(`${p}.p`, new Uint8Array([0xff, 0xfe, 0x00]));
        await bus.publish(`${p}.p`, new Uint8Array(0));
        await bus.publish(`${p}.p`, 42);
        await bus.publish(`${p}.p`, '"a json string"');
        const [obj, text, bytes, empty, num, str] = await got.until(6, ARRIVES_MS);
        expect(obj!.json()).toEqual({ success: true, data: { n: 1, list: [true, null] } });
        expect(text!.text()).toBe('plain text, not JSON');
        expect(text!.json()).toMatchObject({ success: false, error: expect.any(String) });
        expect(Array.from(bytes!.data)).toEqual([0xff, 0xfe, 0x00]);
        expect(bytes!.json().success).toBe(false);
        expect(empty!.data.length).toBe(0);
        expect(empty!.json().success).toBe(false);
        expect(num!.json()).toEqual({ success: true, data: 42 });
        expect(str!.json()).toEqual({ success: true, data: 'a json string' });
      });

      it('survives handlers that throw or reject, reporting to onError', async () => {
        const got = collector<string>();
        bus.subscribe(`${p}.boom`, (msg) => {
          const n = msg.text();
          got.push(n);
          if (n === '1') throw new Error('sync boom');
          if (n === '2') return Promise.reject(new Error('async boom'));
        });
        await bus.flush();
        for (const n of ['1', '2', '3']) await bus.publish(`${p}.boom`, n);
        await got.until(3, ARRIVES_MS);
        await eventually(async () => (errors.length >= 2 ? true : undefined), ARRIVES_MS, 'onError calls');
        expect(got.items).toEqual(['1', '2', '3']);
        expect(errors.map((e) => (e.error as Error).message).sort()).toEqual(['async boom', 'sync boom']);
        expect(errors[0]!.context.subject).toBe(`${p}.boom`);
      });

      it('rejects use after close, and close is idempotent', async () => {
        await bus.close();
        await bus.close();
        await expect(bus.publish(`${p}.closed`, 'x')).rejects.toSatisfy((e) => isBusError(e, 'closed'));
        await expect(bus.request(`${p}.closed`, 'x')).rejects.toSatisfy((e) => isBusError(e, 'closed'));
        await expect(bus.flush()).rejects.toSatisfy((e) => isBusError(e, 'closed'));
        expect(() => bus.subscribe(`${p}.closed`, () => {})).toThrow(expect.objectContaining({ code: 'closed' }));
      });
    });

    describe('job queues', () => {
      const fast = { ackWaitMs: 400, retryDelayMs: 50 };

      async function queue(options: Parameters<Bus['jobQueue']>[1] = {}) {
        return bus.jobQueue(`q_${p}`, { subjects: [`${p}.jobs.>`], ...fast, ...options });
      }

      it('enqueues, consumes in order and acks', async () => {
        const q = await queue();
        expect(q.name).toBe(`q_${p}`);
        const seqs = [];
        for (const n of [1, 2, 3]) seqs.push((await q.enqueue(`${p}.jobs.n`, { n }, { headers: { 'X-N': String(n) } })).seq);
        expect(seqs[1]).toBe(seqs[0]! + 1);
        const got = collector<Job>();
        const consumer = q.consume(async (job) => got.push(job));
        const jobs = await got.until(3, ARRIVES_MS);
        expect(jobs.map((j) => j.json())).toEqual([1, 2, 3].map((n) => ({ success: true, data: { n } })));
        expect(jobs.map((j) => j.deliveryCount)).toEqual([1, 1, 1]);
        expect(jobs.map((j) => j.headers['X-N'])).toEqual(['1', '2', '3']);
        expect(jobs[0]!.id).toBe(`q_${p}:${seqs[0]}`);
        expect(jobs[0]!.subject).toBe(`${p}.jobs.n`);
        // Acked jobs are gone: nothing comes back after the ack deadline.
        await delay(fast.ackWaitMs + QUIET_MS);
        expect(got.items).toHaveLength(3);
        await consumer.stop();
        expect(await q.deadLetters()).toEqual([]);
      });

      it('deduplicates by msgId within the window', async () => {
        const q = await queue();
        const first = await q.enqueue(`${p}.jobs.d`, 'once', { msgId: `m-${p}` });
        const second = await q.enqueue(`${p}.jobs.d`, 'twice', { msgId: `m-${p}` });
        await q.enqueue(`${p}.jobs.d`, 'after');
        expect(first.duplicate).toBe(false);
        expect(second).toEqual({ duplicate: true, seq: first.seq });
        const got = collector<Job>();
        q.consume(async (job) => got.push(job));
        await got.until(2, ARRIVES_MS);
        // The window outlives the job: once processed, the same msgId is still a duplicate.
        expect(await q.enqueue(`${p}.jobs.d`, 'thrice', { msgId: `m-${p}` })).toEqual({ duplicate: true, seq: first.seq });
        await delay(QUIET_MS);
        expect(got.items.map((j) => j.text())).toEqual(['once', 'after']);
        expect(got.items[0]!.msgId).toBe(`m-${p}`);
      });

      it('rejects subjects outside the queue and bad queue names', async () => {
        const q = await queue();
        await expect(q.enqueue(`${p}.other`, 'x')).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
        await expect(q.enqueue(`${p}.jobs.*`, 'x')).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
        await expect(bus.jobQueue('bad.name')).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
        await expect(bus.jobQueue(`x_${p}_DLQ`)).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
      });

      it('refuses a queue whose subjects overlap another queue', async () => {
        await queue();
        await expect(bus.jobQueue(`o_${p}`, { subjects: [`${p}.jobs.x`] })).rejects.toSatisfy((e) =>
          isBusError(e, 'invalid_subject'),
        );
        await expect(bus.jobQueue(`o_${p}`, { subjects: [`${p}.*.x`] })).rejects.toSatisfy((e) =>
          isBusError(e, 'invalid_subject'),
        );
        // Reopening the same queue with the same subjects is fine.
        await expect(queue()).resolves.toMatchObject({ name: `q_${p}` });
      });

      it(`defaults subjects to '<name>.>'`, async () => {
        const q = await bus.jobQueue(`d_${p}`, fast);
        await q.enqueue(`d_${p}.anything.here`, 'x');
        await expect(q.enqueue(`${p}.jobs.x`, 'x')).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
        const got = collector<Job>();
        q.consume(async (job) => got.push(job));
        const [job] = await got.until(1, ARRIVES_MS);
        expect(job!.subject).toBe(`d_${p}.anything.here`);
      });

      it('names the queue that captures a subject (queueFor), and none for others', async () => {
        expect(await bus.queueFor(`${p}.jobs.n`)).toBeUndefined();
        await queue();
        expect(await bus.queueFor(`${p}.jobs.n`)).toBe(`q_${p}`);
        expect(await bus.queueFor(`${p}.other`)).toBeUndefined();
        expect(await bus.queueFor(`${p}.jobs.*`)).toBeUndefined();
        expect(await bus.queueFor('')).toBeUndefined();
      });

      it('stores a publish where a queue captures its subject (publishStored), once per msgId; elsewhere publishes nothing', async () => {
        const elsewhere = await record(`${p}.other.>`);
        expect(await bus.publishStored(`${p}.other.x`, { n: 0 }, { msgId: `o-${p}` })).toBe(false);
        const q = await queue();
        expect(await bus.publishStored(`${p}.jobs.s`, { n: 1 }, { msgId: `s-${p}`, headers: { 'X-N': '1' } })).toBe(true);
        expect(await bus.publishStored(`${p}.jobs.s`, { n: 2 }, { msgId: `s-${p}` })).toBe(true);
        expect(await bus.publishStored(`${p}.jobs.s`, { n: 3 }, { msgId: `t-${p}` })).toBe(true);
        const got = collector<Job>();
        q.consume(async (job) => got.push(job));
        await got.until(2, ARRIVES_MS);
        await delay(QUIET_MS);
        expect(got.items.map((j) => j.json())).toEqual([
          { success: true, data: { n: 1 } },
          { success: true, data: { n: 3 } },
        ]);
        expect(got.items[0]).toMatchObject({ msgId: `s-${p}`, headers: { 'X-N': '1' } });
        expect(elsewhere.got.items).toEqual([]);
        await expect(bus.publishStored(`${p}.jobs.*`, 'x', { msgId: 'w' })).rejects.toSatisfy((e) => isBusError(e, 'invalid_subject'));
      });

      it('turns a plain publish on a queue subject into a job', async () => {
        const q = await queue();
        const got = collector<Job>();
        q.consume(async (job) => got.push(job));
        await bus.publish(`${p}.jobs.plain`, { via: 'publish' }, { headers: { 'Nats-Msg-Id': `pm-${p}` } });
        await bus.publish(`${p}.jobs.plain`, { via: 'again' }, { headers: { 'Nats-Msg-Id': `pm-${p}` } });
        await bus.publish(`${p}.jobs.plain`, { via: 'third' });
        await got.until(2, ARRIVES_MS);
        await delay(QUIET_MS);
        expect(got.items.map((j) => j.json())).toEqual([
          { success: true, data: { via: 'publish' } },
          { success: true, data: { via: 'third' } },
        ]);
      });

      it('redelivers after nak(delay) with deliveryCount 2', async () => {
        const q = await queue();
        await q.enqueue(`${p}.jobs.nak`, 'retry me');
        const got = collector<{ count: number; at: number }>();
        q.consume(async (job) => {
          got.push({ count: job.deliveryCount, at: Date.now() });
          if (job.deliveryCount === 1) await job.nak(300);
        });
        const [first, second] = await got.until(2, ARRIVES_MS);
        expect([first!.count, second!.count]).toEqual([1, 2]);
        expect(second!.at - first!.at).toBeGreaterThanOrEqual(250);
      });

      it('redelivers a job whose handler throws, and reports the error', async () => {
        const q = await queue();
        await q.enqueue(`${p}.jobs.throw`, 'x');
        const got = collector<number>();
        q.consume(async (job) => {
          got.push(job.deliveryCount);
          if (job.deliveryCount === 1) throw new Error('handler failed once');
        });
        expect(await got.until(2, ARRIVES_MS)).toEqual([1, 2]);
        expect(errors.some((e) => (e.error as Error).message === 'handler failed once')).toBe(true);
        expect(errors.find((e) => (e.error as Error).message === 'handler failed once')!.context.queue).toBe(`q_${p}`);
      });

      it('redelivers a job not acked within ackWaitMs', async () => {
        const q = await queue();
        const { seq } = await q.enqueue(`${p}.jobs.slow`, 'slow');
        const release = deferred();
        const got = collector<Job>();
        q.consume(
          async (job) => {
            got.push(job);
            if (job.deliveryCount === 1) await release.promise; // hangs past the ack deadline
          },
          { concurrency: 2 },
        );
        const [first, second] = await got.until(2, ARRIVES_MS);
        release.resolve();
        expect(first!.deliveryCount).toBe(1);
        expect(second!.deliveryCount).toBe(2);
        expect(second!.id).toBe(first!.id);
        expect(second!.seq).toBe(seq);
      });

      it('working() keeps a slow job from being redelivered', async () => {
        const q = await queue();
        await q.enqueue(`${p}.jobs.beat`, 'slow but alive');
        const got = collector<number>();
        const finished = deferred();
        q.consume(
          async (job) => {
            got.push(job.deliveryCount);
            for (let i = 0; i < 6; i++) {
              await delay(fast.ackWaitMs / 3);
              await job.working();
            }
            await job.ack();
            finished.resolve();
          },
          { concurrency: 2 }, // a free slot, so a redelivery could happen if working() failed
        );
        await within(finished.promise, ARRIVES_MS, 'the slow job to finish');
        await delay(QUIET_MS);
        expect(got.items).toEqual([1]);
      });

      it('dead-letters a job after maxDeliver failed deliveries', async () => {
        const q = await queue({ maxDeliver: 3 });
        await q.enqueue(`${p}.jobs.poison`, { poison: true }, { headers: { 'X-Kind': 'poison' } });
        const got = collector<number>();
        q.consume(async (job) => {
          got.push(job.deliveryCount);
          throw new Error(`fail #${job.deliveryCount}`);
        });
        expect(await got.until(3, ARRIVES_MS)).toEqual([1, 2, 3]);
        const [letter] = await eventually(
          async () => {
            const letters = await q.deadLetters();
            return letters.length > 0 ? letters : undefined;
          },
          ARRIVES_MS,
          'the dead letter',
        );
        expect(letter).toMatchObject({
          subject: `${p}.jobs.poison`,
          data: '{"poison":true}',
          cause: 'max_deliver',
          deliveryCount: 3,
        });
        expect(letter!.reason).toContain('fail #3');
        expect(letter!.headers['X-Kind']).toBe('poison');
        expect(Number.isNaN(Date.parse(letter!.at))).toBe(false);
        await delay(fast.retryDelayMs + QUIET_MS);
        expect(got.items).toEqual([1, 2, 3]);
      });

      it('waits longer after each failure of the same job: retryDelayMs doubled, at most maxRetryDelayMs', async () => {
        const q = await queue({ maxDeliver: 5, retryDelayMs: 120, maxRetryDelayMs: 300 });
        await q.enqueue(`${p}.jobs.flaky`, 'fails');
        const got = collector<number>();
        q.consume(async () => {
          got.push(performance.now());
          throw new Error('store unavailable');
        });
        const at = await got.until(5, ARRIVES_MS);
        const gaps = at.slice(1).map((t, i) => t - at[i]!);
        // Not before its delay (timers may fire a millisecond early); later is the machine's load.
        expect(gaps[0]).toBeGreaterThanOrEqual(120 - 5);
        expect(gaps[1]).toBeGreaterThanOrEqual(240 - 5);
        expect(gaps[2]).toBeGreaterThanOrEqual(300 - 5);
        // Capped: doubled again it would be 960 ms; 700 leaves 400 ms for a loaded machine.
        expect(gaps[3]).toBeGreaterThanOrEqual(300 - 5);
        expect(gaps[3]).toBeLessThan(700);
      });

      it('dead-letters a job whose last delivery is never acked, and tells the consumer (onExpired)', async () => {
        const q = await queue({ maxDeliver: 1 });
        await q.enqueue(`${p}.jobs.hang`, 'hangs');
        const release = deferred();
        const got = collector<number>();
        const expired = collector<DeadLetter>();
        // A second slot stays free: a server only notices exhaustion when it could deliver again.
        q.consume(
          async (job) => {
            got.push(job.deliveryCount);
            await release.promise;
          },
          { concurrency: 2, onExpired: (letter) => expired.push(letter) },
        );
        await got.until(1, ARRIVES_MS);
        const [letter] = await eventually(
          async () => {
            const letters = await q.deadLetters();
            return letters.length > 0 ? letters : undefined;
          },
          ARRIVES_MS,
          'the dead letter',
        );
        release.resolve();
        expect(letter).toMatchObject({ cause: 'max_deliver', deliveryCount: 1, data: 'hangs' });
        expect(letter!.reason).toContain('ack wait expired');
        expect(got.items).toEqual([1]);
        const [heard] = await expired.until(1, ARRIVES_MS, 'onExpired');
        expect(heard).toEqual(letter);
      });

      it('term() dead-letters at once with the reason', async () => {
        const q = await queue();
        await q.enqueue(`${p}.jobs.bad`, 'bad input');
        await q.enqueue(`${p}.jobs.good`, 'good input');
        const got = collector<string>();
        q.consume(async (job) => {
          got.push(job.text());
          if (job.text() === 'bad input') await job.term('cannot parse input');
        });
        await got.until(2, ARRIVES_MS);
        const letters = await eventually(
          async () => {
            const all = await q.deadLetters();
            return all.length > 0 ? all : undefined;
          },
          ARRIVES_MS,
          'the dead letter',
        );
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({
          subject: `${p}.jobs.bad`,
          data: 'bad input',
          reason: 'cannot parse input',
          cause: 'term',
          deliveryCount: 1,
        });
        await delay(fast.ackWaitMs + QUIET_MS);
        expect(got.items).toEqual(['bad input', 'good input']);
      });

      it('gives each job to exactly one of several consumers, one at a time', async () => {
        const a = await queue();
        const b = await queue(); // a second handle on the same queue
        const total = 20;
        const handledBy = new Map<string, string[]>();
        const running = new Set<string>();
        let overlapped = false;
        const done = collector<string>();
        const handler = (who: string) => async (job: Job) => {
          if (running.has(job.id)) overlapped = true;
          running.add(job.id);
          handledBy.set(job.id, [...(handledBy.get(job.id) ?? []), who]);
          await delay(10);
          running.delete(job.id);
          done.push(job.id);
        };
        const ca = a.consume(handler('a'));
        const cb = b.consume(handler('b'), { concurrency: 2 });
        for (let n = 0; n < total; n++) await a.enqueue(`${p}.jobs.many`, n);
        await done.until(total, ARRIVES_MS * 2);
        await delay(fast.ackWaitMs + QUIET_MS);
        expect(done.items).toHaveLength(total);
        expect(handledBy.size).toBe(total);
        expect([...handledBy.values()].every((who) => who.length === 1)).toBe(true);
        expect(overlapped).toBe(false);
        const workers = new Set([...handledBy.values()].flat());
        expect(workers).toEqual(new Set(['a', 'b']));
        await Promise.all([ca.stop(), cb.stop()]);
      });

      it('stop() ends a consumer; another consumer takes the remaining jobs', async () => {
        const q = await queue();
        const first = collector<string>();
        const c1 = q.consume(async (job) => first.push(job.text()));
        await q.enqueue(`${p}.jobs.s`, 'one');
        await first.until(1, ARRIVES_MS);
        await c1.stop();
        await c1.stop(); // idempotent
        await q.enqueue(`${p}.jobs.s`, 'two');
        const second = collector<Job>();
        q.consume(async (job) => second.push(job));
        const [job] = await second.until(1, ARRIVES_MS);
        expect(job!.text()).toBe('two');
        expect(first.items).toEqual(['one']);
      });

      it('runs up to `concurrency` jobs at once', async () => {
        const q = await queue();
        for (let n = 0; n < 3; n++) await q.enqueue(`${p}.jobs.c`, n);
        const started = collector<number>();
        const release = deferred();
        let peak = 0;
        let active = 0;
        q.consume(
          async (job) => {
            active++;
            peak = Math.max(peak, active);
            started.push(job.deliveryCount);
            await release.promise;
            active--;
          },
          { concurrency: 2 },
        );
        await started.until(2, ARRIVES_MS);
        await delay(QUIET_MS);
        expect(started.items).toHaveLength(2);
        release.resolve();
        await started.until(3, ARRIVES_MS);
        expect(peak).toBe(2);
      });
    });
  });
}
