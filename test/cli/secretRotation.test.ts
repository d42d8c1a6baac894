/**
 * `switchyard serve` during a rotation of its secrets: a thread launched with a credentialed
 * callbackUrl under one webhook secret waits for a human; serve restarts with a new
 * `SWITCHYARD_WEBHOOK_SECRET` and the old one in `SWITCHYARD_WEBHOOK_SECRET_PREVIOUS`, and the
 * thread's callback reaches the receiver (Basic auth, exact query) signed with the new secret;
 * an inbound hook signed with the old `SWITCHYARD_HOOK_SECRET`, listed in
 * `SWITCHYARD_HOOK_SECRET_PREVIOUS`, launches its thread. No secret is ever printed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { signWebhook, verifyWebhookSignature } from '../../src/server/webhooks.js';
import type { CallbackPayload } from '../../src/surface/callbacks.js';
import { call } from '../server/harness.js';
import type { Received } from '../server/receiver.js';
import { useRedeliveryKit } from '../server/redeliveryKit.js';
import { ROOT, startCli } from './cliProcess.js';

const kit = useRedeliveryKit('switchyard-cli-rotation-');
const OLD = 'whsec-OLD-SECRET-VALUE';
const NEW = 'whsec-NEW-SECRET-VALUE';
const HOOK_OLD = 'hook-OLD-SECRET-VALUE';
const HOOK_NEW = 'hook-NEW-SECRET-VALUE';

const header = (received: Received, name: string): string | undefined => {
  const value = received.headers[name];
  return Array.isArray(value) ? value[0] : value;
};
const signedWith = (received: Received, secret: string): boolean =>
  verifyWebhookSignature(received.body, { timestamp: header(received, 'x-switchyard-timestamp'), signature: header(received, 'x-switchyard-signature') }, secret);

describe('serve with SWITCHYARD_WEBHOOK_SECRET_PREVIOUS and SWITCHYARD_HOOK_SECRET_PREVIOUS', () => {
  it('calls back a thread sealed under the old webhook secret, signed with the new one, and takes hooks signed with the old hook secret', async () => {
    const origin = await kit.receiver(200);
    const args = ['serve', '--port', '0', '--dir', join(kit.tempDir(), 'data'), '--no-demo'];
    const before = startCli(args, { cwd: ROOT, env: { SWITCHYARD_WEBHOOK_SECRET: OLD, SWITCHYARD_HOOK_SECRET: HOOK_OLD } });
    kit.cleanups.push(async () => void (await before.stop()));
    const [, first] = await before.waitFor(/listening on (http:\/\/\S+)/);
    const url = new URL(origin.url);
    url.username = 'cb';
    url.password = 'pw-CLI-ROTATE-1';
    const launched = await call<ThreadView>(first!, 'POST', '/threads', { agent: 'calculator', input: 'what is (3 + 4) / 2', callbackUrl: `${url.href}?b=1&token=qtok-CLI-ROTATE-2` });
    expect(launched.status).toBe(201);
    const [asked] = await origin.waitFor(1);
    const request = (JSON.parse(asked!.body) as CallbackPayload).pendingRequest!;
    expect(await before.stop()).toBe(0);

    const rotated = startCli(args, {
      cwd: ROOT,
      env: { SWITCHYARD_WEBHOOK_SECRET: NEW, SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: OLD, SWITCHYARD_HOOK_SECRET: HOOK_NEW, SWITCHYARD_HOOK_SECRET_PREVIOUS: `${HOOK_OLD}, hook-OLDER-SECRET-VALUE` },
    });
    kit.cleanups.push(async () => void (await rotated.stop()));
    const [, second] = await rotated.waitFor(/listening on (http:\/\/\S+)/);
    await rotated.waitFor(/press Ctrl\+C to stop/);
    const answered = await call(second!, 'POST', `/threads/${launched.body.id}/respond`, { requestId: request.requestId, approved: true });
    expect(answered.status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    expect(JSON.parse(finished!.body)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done' });
    expect(finished!.path).toBe('/hook?b=1&token=qtok-CLI-ROTATE-2');
    expect(finished!.headers.authorization).toBe(`Basic ${Buffer.from('cb:pw-CLI-ROTATE-1').toString('base64')}`);
    expect(signedWith(finished!, NEW)).toBe(true);
    expect(signedWith(finished!, OLD)).toBe(false);

    const raw = JSON.stringify('what is 1 + 2');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const hook = (secret: string, delivery: string) =>
      call(second!, 'POST', '/hooks/calculator', raw, {
        'content-type': 'application/json',
        'X-Switchyard-Timestamp': timestamp,
        'X-Switchyard-Signature': signWebhook(raw, secret, timestamp),
        'X-Switchyard-Delivery': delivery,
      });
    expect((await hook(HOOK_OLD, 'rotation-1')).status).toBe(201);
    expect((await hook('hook-OLDER-SECRET-VALUE', 'rotation-2')).status).toBe(201);
    expect((await hook(HOOK_NEW, 'rotation-3')).status).toBe(201);
    expect((await hook('hook-UNKNOWN', 'rotation-4')).status).toBe(401);

    expect(await rotated.stop()).toBe(0);
    expect(rotated.stdout()).toMatch(/sealed under 1 previous webhook secret \(SWITCHYARD_WEBHOOK_SECRET_PREVIOUS\)/);
    expect(rotated.stdout()).toMatch(/signed with the hook secret \(2 previous hook secrets taken too: SWITCHYARD_HOOK_SECRET_PREVIOUS\)/);
    for (const output of [before.stdout(), before.stderr(), rotated.stdout(), rotated.stderr()]) expect(output).not.toMatch(/SECRET-VALUE|pw-CLI-ROTATE|qtok-CLI-ROTATE/);
  });
});
