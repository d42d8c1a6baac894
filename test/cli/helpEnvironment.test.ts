/**
 * `serve --help` and `worker --help` name every environment variable the command reads: an
 * operator configuring a container from the help alone finds the seal secret, the NATS credentials
 * and, for a worker, the model and the webhook secret too.
 */
import { describe, expect, it } from 'vitest';
import { runCliHere } from '../support/inProcessCli.js';

const MODEL = [
  'SWITCHYARD_MODEL_API_KEY', 'SWITCHYARD_MODEL_BASE_URL', 'SWITCHYARD_MODEL', 'SWITCHYARD_MODEL_TIMEOUT_MS', 'OPENAI_API_KEY', 'OPENAI_BASE_URL',
  'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'OPENAI_CUSTOM_HEADERS',
];
/** How the process runs (both commands). */
const PROCESS = ['SWITCHYARD_WATCH_NPM'];
const NATS = ['NATS_URL', 'NATS_CREDS', 'NATS_TOKEN', 'NATS_USER', 'NATS_PASSWORD', 'SWITCHYARD_PREFIX', 'SWITCHYARD_BUCKET', 'SWITCHYARD_INSPECT_HEARTBEAT_MS'];
const SEAL = ['SWITCHYARD_SEAL_SECRET', 'SWITCHYARD_SEAL_SECRET_PREVIOUS'];

const READ: Readonly<Record<'serve' | 'worker', readonly string[]>> = {
  serve: [
    ...MODEL, ...NATS, ...SEAL, ...PROCESS, 'SWITCHYARD_LOG_LEVEL', 'SWITCHYARD_TOKEN', 'SWITCHYARD_RETAIN_ENDED', 'SWITCHYARD_WEBHOOK_URL',
    'SWITCHYARD_WEBHOOK_SECRET', 'SWITCHYARD_WEBHOOK_SECRET_PREVIOUS', 'SWITCHYARD_HOOK_SECRET', 'SWITCHYARD_HOOK_SECRET_PREVIOUS',
    'SWITCHYARD_ALLOWED_HOSTS', 'SWITCHYARD_INSPECT_WS',
  ],
  worker: [
    ...MODEL, ...NATS, ...SEAL, ...PROCESS, 'SWITCHYARD_LOG_LEVEL', 'SWITCHYARD_WEBHOOK_SECRET', 'SWITCHYARD_WEBHOOK_SECRET_PREVIOUS',
    'SWITCHYARD_INSPECT_WS', 'SWITCHYARD_HEALTH_PORT', 'SWITCHYARD_HEALTH_HOST',
  ],
};

describe('the environment a server command\'s help names', () => {
  it.each(['serve', 'worker'] as const)('%s --help names every variable it reads', async (command) => {
    const help = await runCliHere([command, '--help']);
    expect(help.code).toBe(0);
    const missing = READ[command].filter((name) => !new RegExp(`\\b${name}\\b`).test(help.stdout));
    expect(missing).toEqual([]);
  });
});
