/**
 * A real switchyard HTTP server with the inspector mounted, as `switchyard serve` will run it: the
 * calculator agent on a scripted model, a memory store, the in-process bus, and the runtime's
 * inspection published on the bus. Used by the routes, browser and screenshot scripts.
 */
import type { AnyStateMachine } from 'xstate';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent, type Agent } from '../../src/agent/agent.js';
import { beforeDecision, intent, judge } from '../../src/agent/customStep.js';
import type { Bus } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createBusInspector, type BusInspector } from '../../src/inspector/busInspector.js';
import { inspectorExtension } from '../../src/inspector/mount.js';
import type { Model, ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { calculatorTools } from '../../tools/calculator.js';

/**
 * The calculator's scripted model, by the thread's input: "divide a by b" divides (a human must
 * approve) then finishes; "ask …" asks a human first; "wait …" adds 2 and 3, then chooses the
 * `wait_for_a_while` intent of {@link judgedAgent} (an hour); anything else adds 2 and 3 then finishes.
 */
export function calculatorModel() {
  return scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply => {
      const input = /<input>\n(.*)\n<\/input>/.exec(request.context)?.[1] ?? '';
      const context = request.context;
      if (input.startsWith('wait')) {
        if (context.includes('<intent_result')) return { intent: 'done_for_now', args: { message: 'waited' } };
        if (context.includes('<tool_result')) return { intent: 'wait_for_a_while', args: { seconds: 3600 } };
        return { intent: 'add', args: { a: 2, b: 3 } };
      }
      if (context.includes('approved="false"')) return { intent: 'done_for_now', args: { message: 'the division was not approved' } };
      if (context.includes('<tool_result')) {
        const result = /<tool_result[^>]*>\s*([^<]*)/.exec(context)?.[1]?.trim() ?? '';
        return { intent: 'done_for_now', args: { message: `the answer is ${result}` } };
      }
      if (input.startsWith('ask')) {
        return context.includes('<human_response')
          ? { intent: 'done_for_now', args: { message: 'thanks for the answer' } }
          : { intent: 'request_human_input', args: { question: 'Which unit should the answer use?', format: 'free_text' } };
      }
      const division = /divide (\d+) by (\d+)/.exec(input);
      if (division) return { intent: 'divide', args: { a: Number(division[1]), b: Number(division[2]) } };
      return { intent: 'add', args: { a: 2, b: 3 } };
    },
  });
}

/**
 * A user's agent with steps of its own, so it runs its own machine `agent:judged`: `pace` before
 * each decision, the judge `no_devil` after each one (it rejects additions of 666), and the intent
 * `wait_for_a_while` (a durable sleep).
 */
export function judgedAgent() {
  return agent({
    name: 'judged',
    description: 'a calculator whose author added steps',
    prompt: 'You are {{agent}}: {{description}}.\nTools:\n{{tools}}',
    tools: calculatorTools,
    beforeDecision: [beforeDecision({ name: 'pace', run: () => ({ output: { ok: true } }) })],
    afterDecision: [
      judge({
        name: 'no_devil',
        run: (call) => ((call.args as { a?: number }).a === 666 ? { verdict: 'reject', feedback: 'no devil numbers' } : { verdict: 'accept' }),
      }),
    ],
    intents: [
      intent({
        name: 'wait_for_a_while',
        description: 'Wait before checking again',
        input: z.object({ seconds: z.number().int().min(1).max(86_400) }),
        run: ({ seconds }) => ({ output: { waited: seconds }, waitMs: seconds * 1000 }),
      }),
    ],
  });
}

/** What the page's functions use of the browser (the project compiles without the DOM library). */
export interface BrowserGlobals {
  document: { querySelector(selector: string): { textContent: string | null } | null; body: unknown };
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void };
  location: { hash: string };
  seenStates: string[];
}

/** A running server and everything behind it. */
export interface InspectorServer {
  readonly url: string;
  readonly runtime: Runtime;
  readonly bus: Bus;
  readonly inspector: BusInspector;
  /** Stops the HTTP server only (the runtime, bus and inspector stay): its clients lose it, as at a server's restart. */
  stopHttp(): Promise<void>;
  /** Serves again, on the same port, after {@link stopHttp}. */
  startHttp(): Promise<void>;
  close(): Promise<void>;
}

/** What {@link startInspectorServer} runs besides its defaults. */
export interface InspectorServerOptions {
  store?: ThreadStore;
  token?: string;
  streamIntervalMs?: number;
  /** @default [calculator] */
  agents?: readonly Agent[];
  /** @default [] */
  pipelines?: readonly Pipeline[];
  /** Machines the inspector can draw besides the runtime's. */
  machines?: Record<string, AnyStateMachine>;
  /** @default {@link calculatorModel} */
  model?: Model;
  /** The runtime's `maxConcurrent`. @default its default */
  maxConcurrent?: number;
}

/** Starts the HTTP server with the inspector mounted (as `switchyard serve` does) on 127.0.0.1, on a free port. */
export async function startInspectorServer(options: InspectorServerOptions = {}): Promise<InspectorServer> {
  const bus = createMemoryBus();
  const inspector = createBusInspector({ bus, processId: 'worker-1:4242' });
  const agents = options.agents ?? [calculator];
  const runtime = createRuntime({
    agents,
    pipelines: options.pipelines ?? [],
    store: options.store ?? createMemoryStore(),
    model: options.model ?? calculatorModel(),
    inspect: inspector.inspect,
    ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
  });
  const serve = (port: number) =>
    startHttpServer(runtime, {
      host: '127.0.0.1',
      port,
      token: options.token ?? '',
      extensions: [inspectorExtension({ bus, streamIntervalMs: options.streamIntervalMs ?? 50, ...(options.machines ? { machines: options.machines } : {}) })],
    });
  let server: HttpServer | null = await serve(0);
  const { url, port } = server;
  // The inspector subscribes to the bus when mounted; a flush makes sure it is in place.
  await bus.flush();
  return {
    url,
    runtime,
    bus,
    inspector,
    async stopHttp() {
      await server?.close();
      server = null;
    },
    async startHttp() {
      server ??= await serve(port);
      await bus.flush();
    },
    async close() {
      await server?.close();
      await inspector.close();
      await runtime.close();
      await bus.close();
    },
  };
}
