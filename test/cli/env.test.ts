/** What `serve` and `worker` read from the environment. */
import { describe, expect, it } from 'vitest';
import { inspectHeartbeat } from '../../src/cli/env.js';
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
