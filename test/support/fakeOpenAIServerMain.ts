/**
 * Runs the fake OpenAI-compatible server with {@link benchHandler} in its own process, so a
 * benchmark does not count the server's CPU as the client's. Prints exactly one line,
 * `{"baseURL":"http://127.0.0.1:PORT/v1"}`, then serves until SIGTERM or SIGINT.
 *
 * Run with `npx tsx test/support/fakeOpenAIServerMain.ts`.
 */
import { benchHandler, startFakeOpenAI } from './fakeOpenAIServer.js';

const server = await startFakeOpenAI(benchHandler);
process.stdout.write(`${JSON.stringify({ baseURL: server.baseURL })}\n`);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  void server.close().then(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
