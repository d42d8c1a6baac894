import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertQueueName, isValidPattern, isValidSubject, subjectMatches } from '../../src/bus/subject.js';
import { ConfigError } from '../../src/errors.js';
import { busSubjects, THREAD_OPS, type BusSubjects } from '../../src/surface/subjects.js';
import { tokenArbitrary, subjectLikeArbitrary } from '../bus/subjectArbitrary.js';

const agentName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,63}$/);
const threadId = fc.stringMatching(/^[A-Za-z0-9_:-]{1,128}$/);
const eventType = fc.constantFrom('input', 'decision', 'tool_call', 'error', 'human_request', 'final', 'custom');
const prefixArbitrary = fc.array(tokenArbitrary, { minLength: 1, maxLength: 3 }).map((t) => t.join('.'));

/** The subjects of `prefix`, or the ConfigError it was refused with. */
function subjectsOf(prefix: string): BusSubjects | ConfigError {
  try {
    return busSubjects(prefix);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

describe('bus subjects (property)', () => {
  it('a prefix is taken or refused with a ConfigError; every pattern of a taken prefix can be subscribed to', () => {
    fc.assert(
      fc.property(fc.oneof(prefixArbitrary, subjectLikeArbitrary), (prefix) => {
        const subjects = subjectsOf(prefix);
        if (subjects instanceof ConfigError) {
          expect(subjects.message).toContain(JSON.stringify(prefix));
          return;
        }
        for (const pattern of [subjects.anyTrigger, subjects.anyThread, subjects.anyEvent, subjects.anyDeleted, subjects.anyInspect, subjects.anyOwner('t-1')]) {
          expect(isValidPattern(pattern)).toBe(true);
        }
      }),
      { numRuns: 300, seed: 41 },
    );
  });

  it('built subjects are concrete, match their wildcard subject, and tokens() gives back their parts', () => {
    const prefix = prefixArbitrary.filter((p) => !(subjectsOf(p) instanceof ConfigError));
    fc.assert(
      fc.property(prefix, agentName, threadId, fc.constantFrom(...THREAD_OPS), eventType, (p, agent, id, op, type) => {
        const s = busSubjects(p);
        const built: [string, string[], string | undefined][] = [
          [s.trigger(agent), ['trigger', agent], s.anyTrigger],
          [s.jobs(agent), ['jobs', agent], undefined],
          [s.thread(id, op), ['thread', id, op], s.anyThread],
          [s.events(agent, id, type), ['events', agent, id, type], s.anyEvent],
          [s.human(agent, id), ['human', agent, id], undefined],
          [s.deleted(agent, id), ['deleted', agent, id], s.anyDeleted],
        ];
        for (const [subject, parts, pattern] of built) {
          expect(isValidSubject(subject)).toBe(true);
          expect(s.tokens(subject)).toEqual(parts);
          if (pattern !== undefined) expect(subjectMatches(pattern, subject)).toBe(true);
        }
        // Internal subjects are outside the prefix: a subscriber on `<prefix>.>` never sees them.
        const owner = s.owner(id, op);
        expect(isValidSubject(owner)).toBe(true);
        expect(s.tokens(owner)).toBeUndefined();
        expect(subjectMatches(`${p}.>`, owner)).toBe(false);
        expect(subjectMatches(s.anyOwner(id), owner)).toBe(true);
        expect(subjectMatches(s.anyOwner(`${id}x`), owner)).toBe(false);
        expect(() => assertQueueName(s.queueName(agent))).not.toThrow();
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('tokens() of any string: undefined outside the prefix, else the tokens after it', () => {
    fc.assert(
      fc.property(fc.oneof(subjectLikeArbitrary, fc.string({ maxLength: 30 }).map((rest) => `switchyard.${rest}`)), (subject) => {
        const tokens = busSubjects('switchyard').tokens(subject);
        if (!subject.startsWith('switchyard.')) expect(tokens).toBeUndefined();
        else expect(['switchyard', ...tokens!].join('.')).toBe(subject);
      }),
      { numRuns: 200, seed: 43 },
    );
  });
});
