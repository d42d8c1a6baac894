/**
 * `switchyard worker` and `serve --nats-url` against a nats-server that requires authentication:
 * credentials from the URL (`nats://user:pass@host`, `nats://token@host`) or from the environment
 * (NATS_USER + NATS_PASSWORD, NATS_TOKEN, NATS_CREDS), and never a password in what they print.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueToken } from '../bus/waiting.js';
import { natsOperator } from '../support/natsCreds.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { runInProcess, type EndedCommand, type InProcessCommand } from './runInProcess.js';

const USER = 'opuser';
const PASSWORD = 'S3cretNatsPass';
const TOKEN = 'tok3nNatsSecret';

const operator = natsOperator();

let userServer: NatsServerHandle;
let tokenServer: NatsServerHandle;
/** Decentralized auth: users of `operator`'s account connect with a `.creds` file. */
let operatorServer: NatsServerHandle;
beforeAll(async () => {
  [userServer, tokenServer, operatorServer] = await Promise.all([
    startNatsServer({ auth: { user: USER, password: PASSWORD } }),
    startNatsServer({ auth: { token: TOKEN } }),
    startNatsServer({ config: operator.serverConfig }),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([userServer?.stop(), tokenServer?.stop(), operatorServer?.stop()]);
});

const hostOf = (server: NatsServerHandle): string => `127.0.0.1:${server.port}`;

async function started(args: readonly string[], env: Record<string, string>): Promise<InProcessCommand> {
  const run = await runInProcess(args, { SWITCHYARD_PREFIX: `au${uniqueToken()}`, ...env });
  if ('ended' in run) throw new Error(`switchyard ${args.join(' ')} exited with ${run.ended.code}\nstdout: ${run.ended.stdout}\nstderr: ${run.ended.stderr}`);
  return run.started;
}

async function ended(args: readonly string[], env: Record<string, string>): Promise<EndedCommand> {
  const run = await runInProcess(args, { SWITCHYARD_PREFIX: `au${uniqueToken()}`, ...env });
  if ('started' in run) {
    await run.started.stop();
    throw new Error(`switchyard ${args.join(' ')} started: ${run.started.stdout()}`);
  }
  return run.ended;
}

/** Runs `worker` with `env` and returns the line saying where it joined; the worker stops cleanly. */
async function workerJoinLine(env: Record<string, string>): Promise<string> {
  const worker = await started(['worker'], env);
  try {
    const line = worker.stdout().split('\n').find((l) => l.includes('joined NATS at'));
    expect(line, worker.stdout()).toBeDefined();
    return line!;
  } finally {
    expect(await worker.stop()).toBe(0);
  }
}

describe('worker on a NATS server that requires a user and password', () => {
  it('connects with the credentials in NATS_URL and prints the URL without the password', async () => {
    const line = await workerJoinLine({ NATS_URL: `nats://${USER}:${PASSWORD}@${hostOf(userServer)}` });
    expect(line).toContain(`joined NATS at nats://${USER}:***@${hostOf(userServer)} `);
    expect(line).not.toContain(PASSWORD);
  });

  it('connects with NATS_USER and NATS_PASSWORD', async () => {
    const line = await workerJoinLine({ NATS_URL: userServer.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD });
    expect(line).toContain(`joined NATS at ${userServer.url} `);
  });

  it('a wrong password fails with a message that names the server and not the password', async () => {
    const wrong = 'Wr0ngPassw0rd';
    const fromUrl = await ended(['worker'], { NATS_URL: `nats://${USER}:${wrong}@${hostOf(userServer)}` });
    expect(fromUrl.code).toBe(1);
    expect(fromUrl.stderr).toContain(`cannot connect to NATS at nats://${USER}:***@${hostOf(userServer)}`);
    expect(fromUrl.stderr).toMatch(/authorization violation/i);
    expect(fromUrl.stdout + fromUrl.stderr).not.toContain(wrong);

    const fromEnv = await ended(['worker'], { NATS_URL: userServer.url, NATS_USER: USER, NATS_PASSWORD: wrong });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toMatch(/authorization violation/i);
    expect(fromEnv.stdout + fromEnv.stderr).not.toContain(wrong);
  });
});

describe('worker on a NATS server that requires a token', () => {
  it('connects with the token in NATS_URL (nats://token@host) and prints the URL without it', async () => {
    const line = await workerJoinLine({ NATS_URL: `nats://${TOKEN}@${hostOf(tokenServer)}` });
    expect(line).toContain(`joined NATS at nats://***@${hostOf(tokenServer)} `);
    expect(line).not.toContain(TOKEN);
  });

  it('connects with NATS_TOKEN', async () => {
    const line = await workerJoinLine({ NATS_URL: tokenServer.url, NATS_TOKEN: TOKEN });
    expect(line).toContain(`joined NATS at ${tokenServer.url} `);
  });
});

describe('worker on a NATS server with decentralized auth (operator, account, user JWTs)', () => {
  it('connects with the .creds file NATS_CREDS names', async () => {
    const creds = join(operatorServer.storeDir, 'worker.creds');
    writeFileSync(creds, operator.userCreds());
    const line = await workerJoinLine({ NATS_URL: operatorServer.url, NATS_CREDS: creds });
    expect(line).toContain(`joined NATS at ${operatorServer.url} `);
  });

  it('fails without credentials, or with the creds of a user of another operator', async () => {
    const without = await ended(['worker'], { NATS_URL: operatorServer.url });
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/authorization violation/i);

    const stranger = join(operatorServer.storeDir, 'stranger.creds');
    writeFileSync(stranger, natsOperator().userCreds());
    const other = await ended(['worker'], { NATS_URL: operatorServer.url, NATS_CREDS: stranger });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`cannot connect to NATS at ${operatorServer.url}`);
    expect(other.stderr).toMatch(/authorization violation/i);
  });
});

describe('serve --nats-url on a NATS server that requires a user and password', () => {
  it('connects with the credentials in the URL, runs a thread, and prints the URL without the password', async () => {
    const serve = await started(['serve', '--port', '0', '--no-demo', '--nats-url', `nats://${USER}:${PASSWORD}@${hostOf(userServer)}`], {});
    try {
      expect(serve.stdout()).toContain(`threads are stored in NATS at nats://${USER}:***@${hostOf(userServer)} `);
      expect(serve.stdout() + serve.stderr()).not.toContain(PASSWORD);
      const url = /switchyard listening on (http:\/\/\S+)/.exec(serve.stdout())![1]!;
      const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'what is 2 + 2' }) });
      expect(launched.status).toBe(201);
      const { id } = (await launched.json()) as { id: string };
      const rested = await fetch(`${url}/threads/${id}/wait?timeoutMs=15000`);
      expect(((await rested.json()) as { status: string }).status).toBe('done');
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  it('connects with NATS_USER and NATS_PASSWORD', async () => {
    const serve = await started(['serve', '--port', '0', '--no-demo'], { NATS_URL: userServer.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD });
    try {
      expect(serve.stdout()).toContain(`threads are stored in NATS at ${userServer.url} `);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});

describe('NATS credentials from the environment that cannot be used', () => {
  it('NATS_CREDS names a .creds file that is read and used: one that holds no credentials fails to connect, saying so', async () => {
    const bad = join(userServer.storeDir, 'bad.creds');
    writeFileSync(bad, 'not a creds file\n');
    const result = await ended(['worker'], { NATS_URL: userServer.url, NATS_CREDS: bad });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot connect to NATS at ${userServer.url}: unable to parse credentials`);
  });

  it('a NATS_CREDS file that cannot be read, a password without a user, or two kinds of credentials at once are refused naming the variables (exit 2)', async () => {
    const missing = join(userServer.storeDir, 'missing.creds');
    const cases: [Record<string, string>, RegExp][] = [
      [{ NATS_CREDS: missing }, /NATS_CREDS: cannot read .*missing\.creds/],
      [{ NATS_PASSWORD: PASSWORD }, /NATS_PASSWORD is set but NATS_USER is not/],
      [{ NATS_USER: USER }, /NATS_USER is set but NATS_PASSWORD is not/],
      [{ NATS_TOKEN: TOKEN, NATS_USER: USER, NATS_PASSWORD: PASSWORD }, /only one of NATS_CREDS, NATS_TOKEN or NATS_USER/],
    ];
    for (const [env, message] of cases) {
      const result = await ended(['worker'], { NATS_URL: userServer.url, ...env });
      expect(result.code, JSON.stringify(env)).toBe(2);
      expect(result.stderr, JSON.stringify(env)).toMatch(message);
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
      expect(result.stdout + result.stderr).not.toContain(TOKEN);
    }
  });
});
