/**
 * The embedded backend `serve` runs on, closed while a tool call outlasts its drain time: the call
 * is aborted but its tool (which ignores that) still runs in this process, so the data directory
 * stays claimed until it returns; a serve that took the directory over meanwhile would ask a human
 * whether a call that still runs took effect. (The CLI exits at once instead; see shutdown.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { DRAIN_MS, embeddedBackend } from '../../src/cli/backend.js';
import { claimDir } from '../../src/cli/dirClaim.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Claims the directory as another serve would: its release, or the refusal. */
function claim(path: string): (() => void) | ConfigError {
  try {
    return claimDir(path);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

describe('the embedded backend closed while a tool call outlasts the drain time', () => {
  it('keeps the data directory claimed until the aborted call returns', { timeout: DRAIN_MS + 20_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-backend-'));
    const tools = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const { model } = publisherModel();
    const backend = await embeddedBackend(dir, {
      project: { config: {}, agents: [publisher], pipelines: [], path: null },
      model,
      logger: silentLogger(),
      env: {},
    });
    const { id } = await backend.runtime.launch('publisher', 'publish hello');
    const signal = await tools.started.promise;

    // The whole drain time passes (the tool ignores its abort).
    await backend.close();
    expect(signal.aborted).toBe(true);
    expect(backend.runtime.abandonedCalls().calls).toEqual([{ threadId: id, tool: 'publish', idempotent: false }]);
    const refused = claim(dir);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toContain('is in use by another switchyard serve');

    tools.release.resolve('published');
    await backend.runtime.abandonedCalls().returned;
    const taken = claim(dir);
    expect(taken).toBeTypeOf('function');
    (taken as () => void)();
  });
});
