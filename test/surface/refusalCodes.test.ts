// One vocabulary of error codes: a refusal's code in an HTTP error body (mapError) is the code of a
// NATS thread reply for the same error (threadRequestFailure), both from refusalCodeOf.
import { describe, expect, it } from 'vitest';
import {
  CorruptDataError,
  InvalidInputError,
  InvalidStateError,
  NotFoundError,
  NotSupportedError,
  RuntimeClosedError,
  STATE_CONFLICTS,
  SystemError,
  ThreadEndedError,
  ThreadTooLargeError,
  UnknownAgentError,
  UnreadableThreadError,
  VersionConflictError,
  type RefusalCode,
} from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { mapError } from '../../src/server/errorMapper.js';
import { refusalOf } from '../../src/surface/payloads.js';
import { threadRequestFailure } from '../../src/surface/threadRequests.js';

/** Each error a request may meet, with the code both surfaces give it and HTTP's status. */
const cases: ReadonlyArray<readonly [RefusalCode, number, unknown]> = [
  // Every conflict with a name of its own, as `InvalidStateError.conflict` carries it.
  ...STATE_CONFLICTS.map((kind) => [kind, 409, new InvalidStateError(`refused: ${kind}`, 'th_1', 'running', kind)] as const),
  ['conflict', 409, new InvalidStateError('refused', 'th_1', 'running')],
  ['conflict', 409, new NotSupportedError('cannot delete', 'th_1', 'done')],
  ['conflict', 409, new VersionConflictError('th_1', 3, 4)],
  ['thread_ended', 409, new ThreadEndedError('th_1', 'cancelled')],
  ['bad_request', 400, new InvalidInputError('invalid response', ['approved: required'])],
  ['payload_too_large', 413, new ThreadTooLargeError('th_1', 2_000, 1_000, '(the server max_payload)')],
  ['not_found', 404, new NotFoundError('thread', 'th_1')],
  ['not_found', 404, new UnknownAgentError('nope', ['calculator'])],
  ['unavailable', 503, new SystemError('the store did not answer')],
  ['unavailable', 503, new RuntimeClosedError('draining')],
  ['internal', 500, new CorruptDataError('a foreign value')],
  ['internal', 500, new UnreadableThreadError('th_1', 'line 3 of /data/th_1 is not JSON', 'thread th_1 is damaged')],
  ['internal', 500, new Error('a bug')],
];

describe('a refusal over HTTP and over NATS', () => {
  it.each(cases)('is %s on both (HTTP %i)', (code, status, error) => {
    const http = mapError(error, silentLogger());
    const nats = threadRequestFailure(error, 'respond');
    expect(http).toMatchObject({ status, body: { code } });
    // The coarse kind: `conflict` for every 409, as a NATS reply's code was before it named the kind.
    expect(nats).toMatchObject({ ok: false, code, kind: status === 409 ? 'conflict' : code });
  });

  it('says the same of bad input on both: its message and issues', () => {
    const error = new InvalidInputError('invalid response', ['approved: required']);
    expect(threadRequestFailure(error, 'respond')).toEqual({ ok: false, ...mapError(error, silentLogger()).body, kind: 'bad_request' });
    expect(refusalOf(error)).toEqual({ error: 'invalid response', code: 'bad_request', kind: 'bad_request', issues: ['approved: required'] });
  });
});
