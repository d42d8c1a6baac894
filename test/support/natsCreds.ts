/**
 * Decentralized NATS auth for tests: an operator, its system account and one account with
 * JetStream, all preloaded in the server's memory resolver, and `.creds` files of users of that
 * account (a user JWT and its nkey seed), as `nsc` would write them.
 */
import { createHash } from 'node:crypto';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

const base64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

/** A JWT of NATS claims `nats`, about `subject`, signed by `issuer`. */
function natsJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = { jti: '', iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('hex').slice(0, 52).toUpperCase();
  const payload = base64url(JSON.stringify(claims));
  return `${header}.${payload}.${base64url(issuer.sign(new TextEncoder().encode(`${header}.${payload}`)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/** An operator's setup: the server's config lines, and `.creds` text for new users. */
export interface NatsOperator {
  /** `operator`, `system_account`, `resolver: MEMORY` and its preload, for the server's config file. */
  readonly serverConfig: string;
  /** The `.creds` text of a new user of the account. */
  userCreds(): string;
}

/** A new operator, with a system account and one account that may use JetStream. */
export function natsOperator(): NatsOperator {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const operatorJwt = natsJwt(operator, operator.getPublicKey(), 'test-operator', { type: 'operator' });
  const systemJwt = natsJwt(operator, system.getPublicKey(), 'SYS', { type: 'account', limits: UNLIMITED });
  const accountJwt = natsJwt(operator, account.getPublicKey(), 'app', {
    type: 'account',
    limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
  });
  return {
    serverConfig: [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${account.getPublicKey()}: ${accountJwt}`,
      `  ${system.getPublicKey()}: ${systemJwt}`,
      '}',
      '',
    ].join('\n'),
    userCreds() {
      const user = createUser();
      const jwt = natsJwt(account, user.getPublicKey(), 'worker', { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
      const seed = new TextDecoder().decode(user.getSeed());
      return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
    },
  };
}
