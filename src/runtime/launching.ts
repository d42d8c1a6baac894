import { randomUUID } from 'node:crypto';
import { AGENT_NAME, type Agent } from '../agent/agent.js';
import { closedObjects } from '../agent/strictSchema.js';
import { isoTime, type Clock } from '../clock.js';
import { formatIssues, InvalidInputError, InvalidStateError, messageOf, NotFoundError, UnknownAgentError, VersionConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { ThreadStore } from '../store/threadStore.js';
import { jsonSchema, launchedWithOtherInput, versionOf, type Json, type Source, type Thread } from '../thread/events.js';
import { deriveState, statusOf, type ThreadStatus } from '../thread/state.js';
import { parentIdOf, viewOf, type ThreadView } from './threadView.js';

/** Options of {@link Runtime.launch}. */
export interface LaunchOptions {
  /**
   * A caller-chosen id; launching an existing id with the same input (as JSON values) returns that
   * thread (idempotent triggers), with another input is refused: an {@link InvalidStateError}
   * (`thread_exists_other_input`), as HTTP, hooks and NATS triggers refuse such a relaunch.
   */
  threadId?: string | undefined;
  source?: Source | undefined;
  /**
   * When `threadId` names a thread already there (launched before, or by a launch racing this
   * one), reject with the store's `VersionConflictError` instead of returning that thread. How a
   * surface tells the launch that created the thread from the others (HTTP's 201 from its 200):
   * the store's create, atomic, decides; a read before it cannot (every racing launch may find
   * the id free).
   * @default false
   */
  onlyNew?: boolean | undefined;
}

/**
 * What a thread id may be, on every surface and both deployments (the stores hold every such id).
 * No dots: thread ids appear as one token in NATS subjects.
 */
export const THREAD_ID_PATTERN = /^[A-Za-z0-9_:-]{1,128}$/;

/** {@link THREAD_ID_PATTERN} in words, for the errors that refuse an id. */
export const THREAD_ID_RULE = 'must be 1 to 128 letters, digits or _ : -';

/** What launching needs from the runtime. */
export interface LaunchSources {
  readonly agents: ReadonlyMap<string, Agent>;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly store: ThreadStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Threads run elsewhere (a job queue takes them). */
  readonly scheduled: boolean;
  isActive(threadId: string): boolean;
  start(thread: Thread): void;
  /**
   * Cancels a pipeline's child whose pipeline is cancelled (resolving with it cancelled), else
   * resolves with `undefined`. Asked only for a thread with a pipeline.
   */
  endedWithParent(thread: Thread): Promise<ThreadView | undefined>;
}

/** Throws an {@link InvalidStateError} (`thread_exists_other_agent`) unless the thread is `agentName`'s. */
export function assertOwner(thread: Thread, agentName: string): void {
  if (thread.agent !== agentName) {
    throw new InvalidStateError(`thread ${thread.id} belongs to ${thread.agent}, not ${agentName}`, thread.id, threadStatus(thread), 'thread_exists_other_agent');
  }
}

/** The status of a thread an error names (read only to refuse). */
function threadStatus(thread: Pick<Thread, 'events'>): ThreadStatus {
  return statusOf(deriveState(thread.events));
}

/**
 * A launch found the thread already there: it must be the same agent's and, for a pipeline's
 * child, launched by that pipeline (a thread someone else launched under the child's id is not
 * the child: its result would be taken for the step's), and by that pipeline's incarnation (its
 * `triggerId`, when both record one): a child of an earlier pipeline under the id, deleted since
 * without its children, is not this one's either.
 */
function ownedBy(existing: Thread, agentName: string, source: Source | undefined): ThreadView {
  assertOwner(existing, agentName);
  const parentId = source?.parentId;
  if (parentId !== undefined && parentIdOf(existing) !== parentId) {
    throw new InvalidStateError(`thread ${existing.id} was not launched by pipeline ${parentId}`, existing.id, threadStatus(existing));
  }
  const launchedBy = existing.events[0]?.type === 'input' ? existing.events[0].data.source?.triggerId : undefined;
  if (parentId !== undefined && source?.triggerId !== undefined && launchedBy !== undefined && launchedBy !== source.triggerId) {
    throw new InvalidStateError(
      `thread ${existing.id} was launched by an earlier pipeline ${parentId} (deleted since, without its children): delete ${existing.id} to run this step`,
      existing.id,
      threadStatus(existing),
    );
  }
  return viewOf(existing);
}

/**
 * Throws an {@link InvalidStateError} (`thread_exists_other_input`) when the thread was launched
 * with another input than `input` (compared as JSON values: keys in any order): a relaunch changes
 * nothing, so that input would never be used. A pipeline's child is not checked: a step run again
 * after a restart finds its child whatever input the step's code now computes.
 */
function assertSameInput(existing: Thread, input: Json): void {
  if (!launchedWithOtherInput(existing.events, input)) return;
  throw new InvalidStateError(
    `thread ${existing.id} already exists and was launched with another input; a launch does not change it: launch another threadId for a new thread`,
    existing.id,
    threadStatus(existing),
    'thread_exists_other_input',
  );
}

type Launchable = Pick<Agent, 'kind' | 'name' | 'input'> | Pipeline;

/**
 * A pipeline's child of an agent this process does not have, in a deployment with a scheduler:
 * the thread is created here and its job taken by a worker that serves the agent (which checks
 * what it can; an agent nobody serves waits in its queue).
 */
function servedElsewhere(sources: Pick<LaunchSources, 'scheduled'>, agentName: string, options: LaunchOptions): Launchable | undefined {
  if (!sources.scheduled || options.source?.kind !== 'pipeline' || !AGENT_NAME.test(agentName)) return undefined;
  return { kind: 'agent', name: agentName, input: undefined };
}

/**
 * Whether a launch from `source` takes keys a plain `z.object()` input does not list (zod strips
 * them): an inbound webhook's body (someone else's format, of which the schema names what it
 * needs) and a pipeline's child (its step's code computes the input). Any other launch is refused
 * such a key, as a tool's arguments are: a caller's typo (`ammount`) is never dropped silently.
 */
function takesUnlistedKeys(source: Source | undefined): boolean {
  return source?.kind === 'webhook' || source?.kind === 'pipeline';
}

/**
 * The input as the thread will hold it, checked against the agent's or pipeline's schema; `closed`:
 * refusing keys a plain `z.object()` does not list.
 */
function checkedInput(target: Launchable, input: unknown, closed: boolean): Json {
  const json = jsonSchema.safeParse(input);
  if (!json.success) throw new InvalidInputError('the input must be a JSON value', formatIssues(json.error.issues));
  if (target.input) {
    // closedObjects keeps one rewrite per schema: a lookup after the first launch.
    const checked = parseInput(closed ? closedObjects(target.input) : target.input, input);
    if (checked instanceof Error) {
      throw new InvalidInputError(`invalid input for ${target.kind} ${target.name}: its input schema threw: ${messageOf(checked)}`, [messageOf(checked)], { cause: checked });
    }
    if (!checked.success) throw new InvalidInputError(`invalid input for ${target.kind} ${target.name}`, formatIssues(checked.error.issues));
  }
  return json.data;
}

/** `schema.safeParse(input)`, or what it threw (an author's refine or transform that throws). */
function parseInput(schema: NonNullable<Launchable['input']>, input: unknown): ReturnType<typeof schema.safeParse> | Error {
  try {
    return schema.safeParse(input);
  } catch (error) {
    return error instanceof Error ? error : new Error(messageOf(error));
  }
}

/**
 * What a launch checks before it writes anything: the agent or pipeline it names, and the input
 * against its schema. Throws what the launch would throw (an {@link UnknownAgentError}, an
 * {@link InvalidInputError} with the issues); nothing is created.
 */
export function checkLaunch(
  sources: Pick<LaunchSources, 'agents' | 'pipelines' | 'scheduled'>,
  agentName: string,
  input: unknown,
  options: LaunchOptions = {},
  closed = !takesUnlistedKeys(options.source),
): { target: Launchable; json: Json } {
  const target = sources.agents.get(agentName) ?? sources.pipelines.get(agentName) ?? servedElsewhere(sources, agentName, options);
  if (target === undefined) throw new UnknownAgentError(agentName, [...sources.agents.keys(), ...sources.pipelines.keys()]);
  return { target, json: checkedInput(target, input, closed) };
}

/** Launches a thread of an agent or pipeline (see {@link Runtime.launch}). */
export async function launchThread(sources: LaunchSources, agentName: string, input: unknown, options: LaunchOptions = {}): Promise<ThreadView> {
  const { store, clock, logger } = sources;
  let checked: { target: Launchable; json: Json };
  try {
    checked = checkLaunch(sources, agentName, input, options);
  } catch (error) {
    if (!(error instanceof InvalidInputError) || options.threadId === undefined) throw error;
    return relaunchOf(sources, agentName, input, { ...options, threadId: options.threadId }, error);
  }
  const { target, json } = checked;
  const id = options.threadId ?? `th_${randomUUID()}`;
  if (!THREAD_ID_PATTERN.test(id)) throw new InvalidInputError(`thread id ${THREAD_ID_RULE}`);
  // A caller-chosen id may name a thread already there (a redelivered trigger): the create is a
  // compare-and-set, so it is tried first and the thread read only when it exists (one store round
  // trip per launch, not two).
  let thread: Thread;
  try {
    thread = await store.create({
      id,
      agent: target.name,
      events: [{ seq: 1, at: isoTime(clock.now()), type: 'input', data: { input: json, ...(options.source ? { source: options.source } : {}) } }],
    });
  } catch (error) {
    // The id was taken (launched before, or by a racing launch): return that thread (refused when
    // it was launched with another input, but for a pipeline's child), continuing it when nobody
    // moves it, unless it is a child whose pipeline was cancelled meanwhile (a pipeline re-running
    // its step after a restart): then it is cancelled instead.
    if (!(error instanceof VersionConflictError) || options.threadId === undefined || options.onlyNew === true) throw error;
    const existing = await store.get(id);
    if (existing === undefined) throw new NotFoundError('thread', id);
    return launchedBefore(sources, existing, target, json, options);
  }
  logger.info({ threadId: id, agent: target.name, state: 'launched' }, 'thread launched');
  // A pipeline's child may be created after its pipeline's cancel looked for it: it is cancelled
  // before it takes a step. One read of the pipeline, for children only.
  if (options.source?.parentId !== undefined) {
    const cancelled = await sources.endedWithParent(thread);
    if (cancelled !== undefined) return cancelled;
  }
  sources.start(thread);
  return viewOf(thread);
}

/**
 * A launch of a thread already there: it is returned (refused when it was launched with another
 * input, but for a pipeline's child), continuing it when nobody moves it, unless it is a child
 * whose pipeline was cancelled meanwhile (a pipeline re-running its step after a restart): then it
 * is cancelled instead.
 */
async function launchedBefore(sources: LaunchSources, existing: Thread, target: Launchable, json: Json, options: LaunchOptions): Promise<ThreadView> {
  const found = ownedBy(existing, target.name, options.source);
  if (options.source?.parentId === undefined) assertSameInput(existing, json);
  if (sources.isActive(existing.id) || found.status !== 'running') return found;
  if (options.source?.parentId !== undefined) {
    const cancelled = await sources.endedWithParent(existing);
    if (cancelled !== undefined) return cancelled;
  }
  sources.start(existing);
  return found;
}

/**
 * A launch naming a thread id whose input the check refused (`refusal`): when the input is refused
 * only for keys its schema does not list and the thread is already there, it is a relaunch, which
 * creates nothing, answered as any other (the same input: the thread; another: refused). A thread
 * launched by a build whose schema listed the key, whose trigger is redelivered during a rolling
 * upgrade or retried by its client, is not dead-lettered. Unknown keys are refused when creating.
 * Paid only by a refused launch: one more parse, and a read of the id.
 */
async function relaunchOf(sources: LaunchSources, agentName: string, input: unknown, options: LaunchOptions & { threadId: string }, refusal: InvalidInputError): Promise<ThreadView> {
  if (!THREAD_ID_PATTERN.test(options.threadId) || takesUnlistedKeys(options.source)) throw refusal;
  let open: { target: Launchable; json: Json };
  try {
    open = checkLaunch(sources, agentName, input, options, false);
  } catch {
    throw refusal;
  }
  const existing = await sources.store.get(options.threadId);
  if (existing === undefined) throw refusal;
  if (options.onlyNew === true) throw new VersionConflictError(existing.id, 0, versionOf(existing));
  return launchedBefore(sources, existing, open.target, open.json, options);
}
