/** What `serve` and `worker` read from the environment. */
import { describe, expect, it } from 'vitest';
import { inspectHeartbeat, retainEndedFromEnv } from '../../src/cli/env.js';
import { ConfigError } from '../../src/errors.js';

describe('SWITCHYARD_INSPECT_HEARTBEAT_MS', () => {
  it('is the interval of the process\'s presence heartbeat in milliseconds; unset or empty keeps the default', () => {
    expect(inspectHeartbeat({})).toBeUndefined();
    expect(inspectHeartbeat({ SWITCHYARD_INSPECT_HEARTBEAT_MS: '' })).toBeUndefined();
    expect(inspectHeartbeat({ SWITCHYARD_INSPECT_HEARTBEAT_MS: '1000' })).toBe(1000);
    expect(inspectHeartbeat({ SWITCHYARD_INSPECT_HEARTBEAT_MS: ' 250 ' })).toBe(250);
  });

  it('refuses anything but a positive whole number of milliseconds, naming the variable', () => {
    for (const bad of ['0', '-5', '1.5', '5s', 'soon', '99999999999']) {
      expect(() => inspectHeartbeat({ SWITCHYARD_INSPECT_HEARTBEAT_MS: bad }), bad).toThrow(ConfigError);
      expect(() => inspectHeartbeat({ SWITCHYARD_INSPECT_HEARTBEAT_MS: bad }), bad).toThrow(/^SWITCHYARD_INSPECT_HEARTBEAT_MS must be a whole number of milliseconds from 1 to 3600000, not /);
    }
  });
});

describe('SWITCHYARD_RETAIN_ENDED', () => {
  it('unset or empty: no retention; a duration: how long ended threads are kept (ms)', () => {
    expect(retainEndedFromEnv({})).toBeUndefined();
    expect(retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: '' })).toBeUndefined();
    expect(retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: '30d' })).toBe(30 * 86_400_000);
    expect(retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: ' 12h ' })).toBe(12 * 3_600_000);
    expect(retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: '2w' })).toBe(14 * 86_400_000);
  });

  it('anything else (a date, no unit, under a minute) is a ConfigError naming the setting', () => {
    for (const bad of ['30', '2026-01-01', '0d', '59s', 'forever', '-1d', '30 days']) {
      expect(() => retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: bad }), bad).toThrow(ConfigError);
      expect(() => retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: bad }), bad).toThrow(/^SWITCHYARD_RETAIN_ENDED must be a duration of at least 1m such as 30d or 12h \(got "/);
    }
  });

  it('a duration over 100 years (one too long to be a number at all included) is a ConfigError naming the setting', () => {
    expect(retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: '36500d' })).toBe(36_500 * 86_400_000);
    for (const bad of ['36501d', '99999999999w', `1${'0'.repeat(400)}d`]) {
      expect(() => retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: bad }), bad).toThrow(ConfigError);
      expect(() => retainEndedFromEnv({ SWITCHYARD_RETAIN_ENDED: bad }), bad).toThrow(/^SWITCHYARD_RETAIN_ENDED must be a duration of at most 36500d \(100 years\) \(got "/);
    }
  });
});
