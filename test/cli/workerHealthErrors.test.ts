/**
 * The worker probes' server after it listens: an error it meets then (an accept that fails, EMFILE)
 * is logged, never an uncaught exception that ends the worker.
 */
import type { Server } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { startWorkerHealth } from '../../src/cli/workerHealth.js';
import { capturingLogger } from '../support/capturingLogger.js';

const created = vi.hoisted(() => [] as Server[]);
vi.mock('node:http', async (importOriginal) => {
  const http = await importOriginal<typeof import('node:http')>();
  return {
    ...http,
    createServer: (...args: Parameters<typeof http.createServer>) => {
      const server = http.createServer(...args);
      created.push(server);
      return server;
    },
  };
});

describe('startWorkerHealth after it listens', () => {
  it('logs an error of its server (EMFILE on accept) and keeps answering', async () => {
    const { logger, out } = capturingLogger();
    const health = await startWorkerHealth({ host: '127.0.0.1', port: 0, ready: () => Promise.resolve(), logger });
    try {
      const server = created.at(-1)!;
      const error = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
      expect(() => server.emit('error', error)).not.toThrow();
      expect(out.lines).toEqual([expect.objectContaining({ level: 50, msg: expect.stringMatching(/^health probes: /), err: expect.objectContaining({ message: 'accept EMFILE' }) })]);
      expect((await fetch(`${health.url}/health`)).status).toBe(200);
    } finally {
      await health.close();
    }
  });
});
