/**
 * The Docker files, read (no Docker engine runs here): the compose override builds a stage the
 * Dockerfile has, from a project folder that exists and holds a config, runs the CLI where the
 * package puts it, and overrides every switchyard service of docker-compose.yml.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cliProcess.js';

const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

/** The top-level service names of a compose file and each one's block of lines. */
function services(yaml: string): Map<string, string> {
  const body = yaml.slice(yaml.indexOf('\nservices:\n') + '\nservices:\n'.length);
  const blocks = new Map<string, string>();
  for (const match of body.matchAll(/^ {2}([\w-]+):\n((?: {4}.*\n|\s*\n)*)/gm)) blocks.set(match[1]!, match[2]!);
  return blocks;
}

/** A service's block with the lines of the `x-` anchors it merges or takes whole (`*name`). */
function withAnchors(yaml: string, block: string): string {
  const anchors = new Map([...yaml.matchAll(/^x-[\w-]+: &([\w-]+)\n((?: {2}.*\n)*)/gm)].map((m) => [m[1]!, m[2]!]));
  return [block, ...[...block.matchAll(/\*([\w-]+)/g)].map((m) => anchors.get(m[1]!) ?? '')].join('');
}

describe('the Docker files', () => {
  const dockerfile = read('Dockerfile');
  const project = /^ARG PROJECT=(\S+)$/m.exec(dockerfile)?.[1];

  it('build a project stage from a folder that is a project of its own', () => {
    expect(dockerfile).toMatch(/^FROM \S+ AS project$/m);
    expect(project).toBeDefined();
    const manifest = JSON.parse(read(`${project}/package.json`)) as { dependencies?: Record<string, string> };
    expect(Object.keys(manifest.dependencies ?? {})).toContain('switchyard');
    expect(existsSync(join(ROOT, project!, 'switchyard.config.ts'))).toBe(true);
    // The project image runs the CLI where the installed package has it.
    const bin = (JSON.parse(read('package.json')) as { bin: { switchyard: string } }).bin.switchyard;
    expect(dockerfile).toContain(`ENTRYPOINT ["node", "node_modules/switchyard/${bin.replace(/^\.\//, '')}"]`);
    // The bundled image is the default target (the last stage), as docker-compose.yml expects.
    expect(dockerfile.trim().split('\n').filter((line) => line.startsWith('FROM ')).pop()).not.toMatch(/ AS /);
  });

  it('the compose override builds that stage for every switchyard service of docker-compose.yml', () => {
    const override = read('docker-compose.project.yml');
    expect(override).toMatch(/^\s+target: project$/m);
    expect(override).toContain(`PROJECT: \${SWITCHYARD_PROJECT:-${project}}`);
    const base = services(read('docker-compose.yml'));
    const overridden = services(override);
    const switchyard = [...base].filter(([, block]) => /image: switchyard:local/.test(block)).map(([name]) => name);
    expect(switchyard).toEqual(['server', 'worker-1', 'worker-2']);
    for (const name of switchyard) {
      expect(overridden.get(name), name).toMatch(/build: \*project-build\n\s+image: switchyard-project:local/);
    }
  });

  it('give every switchyard service the webhook secret, so the processes that run threads can sign callbacks (serve refuses a callbackUrl otherwise)', () => {
    const compose = read('docker-compose.yml');
    const base = services(compose);
    for (const name of ['server', 'worker-1', 'worker-2']) {
      const merged = withAnchors(compose, base.get(name)!);
      expect(merged, name).toMatch(/SWITCHYARD_WEBHOOK_SECRET: \$\{SWITCHYARD_WEBHOOK_SECRET:-\}/);
      // A rotation's old secrets, wherever the current one goes: what threads sealed under them still opens.
      expect(merged, name).toMatch(/SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: \$\{SWITCHYARD_WEBHOOK_SECRET_PREVIOUS:-\}/);
    }
    expect(base.get('server')).toMatch(/SWITCHYARD_WEBHOOK_URL: \$\{SWITCHYARD_WEBHOOK_URL:-\}/);
  });

  it('give every switchyard service each model variable serve and worker read, the request timeout too', () => {
    const compose = read('docker-compose.yml');
    const base = services(compose);
    for (const name of ['server', 'worker-1', 'worker-2']) {
      const merged = withAnchors(compose, base.get(name)!);
      for (const variable of ['SWITCHYARD_MODEL_API_KEY', 'SWITCHYARD_MODEL_BASE_URL', 'SWITCHYARD_MODEL', 'SWITCHYARD_MODEL_TIMEOUT_MS', 'OPENAI_API_KEY', 'OPENAI_BASE_URL']) {
        expect(merged, `${name} ${variable}`).toMatch(new RegExp(`${variable}: \\$\\{${variable}:-\\}`));
      }
    }
  });

  it('give the server the inbound hooks\' secret and a health check it can run (qa16: neither was there)', () => {
    const server = services(read('docker-compose.yml')).get('server')!;
    expect(server).toMatch(/SWITCHYARD_HOOK_SECRET: \$\{SWITCHYARD_HOOK_SECRET:-\}/);
    expect(server).toMatch(/SWITCHYARD_HOOK_SECRET_PREVIOUS: \$\{SWITCHYARD_HOOK_SECRET_PREVIOUS:-\}/);
    // node:22-slim has no curl or wget: the check asks /health with node's own fetch, on the port serve listens on.
    const port = /"--port", "(\d+)"/.exec(server)?.[1];
    expect(port).toBeDefined();
    expect(server).toMatch(/healthcheck:\n\s+test: \["CMD", "node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:(\d+)\/health'\).*"\]/);
    expect(/fetch\('http:\/\/127\.0\.0\.1:(\d+)\/health'\)/.exec(server)?.[1]).toBe(port);
  });

  it('turn the server\'s Host check on (it listens on 0.0.0.0, without a token by default), which its healthcheck passes', () => {
    const server = services(read('docker-compose.yml')).get('server')!;
    expect(server).toMatch(/SWITCHYARD_ALLOWED_HOSTS: \$\{SWITCHYARD_ALLOWED_HOSTS:-localhost\}/);
    // The loopback's names are answered whatever the list: the healthcheck's Host is one.
    expect(server).toMatch(/fetch\('http:\/\/127\.0\.0\.1:\d+\/health'\)/);
  });

  it('run the server as the API only, the two workers taking the jobs, as the README says (qa23: serve took jobs too, three job takers)', () => {
    const base = services(read('docker-compose.yml'));
    expect(base.get('server')).toMatch(/command: \[\s*"serve",[^\]]*"--no-worker"[^\]]*\]/);
    for (const name of ['worker-1', 'worker-2']) expect(base.get(name), name).toMatch(/command: \["worker"/);
    expect(read('README.md')).toContain('docker compose up --build            # NATS with JetStream, the server on :7878, two workers');
  });

  it('give each worker a health check on the probes it serves (qa26: workers had none, and nothing to ask)', () => {
    const base = services(read('docker-compose.yml'));
    for (const name of ['worker-1', 'worker-2']) {
      const worker = base.get(name)!;
      const port = /"--health-port", "(\d+)"/.exec(worker)?.[1];
      expect(port, name).toBeDefined();
      expect(/healthcheck:\n\s+test: \["CMD", "node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:(\d+)\/health'\).*"\]/.exec(worker)?.[1], name).toBe(port);
    }
  });

  it('do not copy a project\'s node_modules into the image', () => {
    expect(read('.dockerignore').split('\n')).toContain('**/node_modules');
  });
});
