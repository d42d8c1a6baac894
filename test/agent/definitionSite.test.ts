/** Where a user's code threw or defined something, read from a V8 stack (qa26-scale D2, D3). */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { definitionSiteOf, userFrameOf } from '../../src/agent/definitionSite.js';
import { fileURLToPath } from 'node:url';

const OWN = fileURLToPath(new URL('../../src/agent/agent.ts', import.meta.url));

describe('userFrameOf', () => {
  it("takes the first frame past switchyard's own code and Node's, paths with blanks and file URLs too", () => {
    const stack = ['ConfigError: x', `    at fail (${OWN}:30:15)`, '    at node:internal/modules/run:1:2', '    at /home/me/My Projects/agents/a.ts:4:7', '    at async /home/me/x.ts:1:1'].join('\n');
    expect(userFrameOf(stack)).toBe('/home/me/My Projects/agents/a.ts:4');
    expect(userFrameOf('Error: y\n    at async file:///srv/app/agents/b.ts:12:3')).toBe('/srv/app/agents/b.ts:12');
    expect(userFrameOf('Error: y\n    at Object.<anonymous> (/srv/my app/c.mjs:3:9)')).toBe('/srv/my app/c.mjs:3');
  });

  it("names no frame when the first one past switchyard's is a package's (not the user's, and what follows is its loader)", () => {
    expect(userFrameOf('Error: y\n    at parse (/srv/app/node_modules/jiti/dist/jiti.cjs:1:2)\n    at /srv/app/cli.ts:3:1')).toBeUndefined();
    expect(userFrameOf(undefined)).toBeUndefined();
  });
});

describe('definitionSiteOf', () => {
  it('is where agent() was called', () => {
    const line = 26; // the line of the agent() call below
    const defined = agent({ name: 'here', description: 'd', prompt: 'p', tools: [] });
    expect(definitionSiteOf(defined)).toBe(`${fileURLToPath(import.meta.url)}:${line}`);
  });
});
