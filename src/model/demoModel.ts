import { estimateTokens } from '../context/renderContext.js';
import { DONE_FOR_NOW, REQUEST_HUMAN_INPUT, type Json } from '../thread/events.js';
import type { Model, ModelRequest, ModelResult } from './model.js';

/** The name the demo model records on decisions. */
export const DEMO_MODEL_NAME = 'switchyard-demo';

/**
 * A deterministic, rule-based {@link Model} for the bundled agents, so a newcomer with no API key
 * sees real runs: tool calls, approvals, denials and human input, all through the real runtime.
 *
 * Like a real model it is a pure function of what it is shown: it reads the thread in the compact
 * context format (`<input>`, `<decision>`, `<tool_result>`, `<human_request>`, `<human_response>`,
 * `<error>`) and answers with one tool call.
 *
 * - `calculator`: parses an arithmetic request ("what is (3 + 4) / 2", "add 3 and 4 then divide by
 *   2", "multiply 6 by 7") into binary operations, calls one tool per operation with the earlier
 *   tool results, and finishes with the result. A denied division ends the run with an
 *   explanation; an input it cannot parse makes it ask a human for a simple expression.
 * - `deploybot`: lists the git tags, deploys the newest (or the named) tag of the backend (or the
 *   frontend) to staging (or production), and reports what was deployed, or that a human denied it.
 * - any other agent: finishes at once, saying the demo model only knows the bundled agents.
 *
 * @example
 * ```ts
 * const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel() });
 * ```
 */
export function createDemoModel(): Model {
  return {
    name: DEMO_MODEL_NAME,
    async complete(request: ModelRequest): Promise<ModelResult> {
      // An agent whose prompt embeds the context gets a placeholder as the user message.
      const context = request.context.includes('<input') ? request.context : request.system;
      const blocks = parseBlocks(context);
      const tools = new Set(request.tools.map((t) => t.name));
      const step = decide(request.agent, blocks, tools);
      const args = JSON.stringify(step.args);
      return {
        success: true,
        data: {
          toolCall: { name: step.intent, arguments: args },
          usage: {
            prompt: estimateTokens(request.system) + estimateTokens(request.context),
            completion: estimateTokens(step.intent) + estimateTokens(args),
          },
          model: DEMO_MODEL_NAME,
        },
      };
    },
  };
}

interface Step {
  readonly intent: string;
  readonly args: Record<string, Json>;
}

/** One tagged block of the context. */
interface Block {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly body: string;
}

const BLOCK = /<(input|prefetch|decision|tool_result|error|human_request|human_response|final|escalation|failed)((?:\s+[\w-]+="[^"]*")*)\s*>([\s\S]*?)<\/\1>/g;
const ATTR = /([\w-]+)="([^"]*)"/g;

function parseBlocks(context: string): Block[] {
  const blocks: Block[] = [];
  for (const match of context.matchAll(BLOCK)) {
    const attrs: Record<string, string> = {};
    for (const attr of (match[2] ?? '').matchAll(ATTR)) attrs[attr[1]!] = attr[2]!;
    blocks.push({ tag: match[1]!, attrs, body: (match[3] ?? '').trim() });
  }
  return blocks;
}

function decide(agent: string, blocks: readonly Block[], tools: ReadonlySet<string>): Step {
  if (agent === 'calculator' && ['add', 'subtract', 'multiply', 'divide'].every((t) => tools.has(t))) {
    return decideCalculator(blocks);
  }
  if (agent === 'deploybot' && ['list_git_tags', 'deploy_backend', 'deploy_frontend'].every((t) => tools.has(t))) {
    return decideDeploybot(blocks);
  }
  if (agent === 'triage' && ['search_known_issues', 'file_triage'].every((t) => tools.has(t))) {
    return decideTriage(blocks);
  }
  return done(
    `The demo model only knows the bundled agents (calculator, deploybot, triage), so agent "${agent}" did nothing. ` +
      'Set SWITCHYARD_MODEL_API_KEY (or OPENAI_API_KEY, or SWITCHYARD_MODEL_BASE_URL for a local server) to run it with a real model.',
  );
}

const done = (message: string): Step => ({ intent: DONE_FOR_NOW, args: { message } });

/** The thread's input as text: a string, or the first text-like field of an object. */
function inputText(blocks: readonly Block[]): string {
  const body = blocks.find((b) => b.tag === 'input')?.body ?? '';
  if (!body.startsWith('{')) return body;
  try {
    const value = JSON.parse(body) as Record<string, unknown>;
    for (const key of ['expression', 'question', 'request', 'task', 'text', 'input', 'message']) {
      if (typeof value[key] === 'string') return value[key];
    }
  } catch {
    // Not JSON after all: use it as text.
  }
  return body;
}

/** The human response to a request, with what the request asked about. */
interface Answer {
  readonly index: number;
  readonly kind: string;
  readonly tool: string | undefined;
  readonly approved: boolean | undefined;
  readonly text: string;
}

function answers(blocks: readonly Block[]): Answer[] {
  const requests = new Map<string, Block>();
  const found: Answer[] = [];
  blocks.forEach((block, index) => {
    if (block.tag === 'human_request' && block.attrs.id) requests.set(block.attrs.id, block);
    if (block.tag !== 'human_response') return;
    const request = block.attrs.to === undefined ? undefined : requests.get(block.attrs.to);
    const approved = block.attrs.approved === undefined ? undefined : block.attrs.approved === 'true';
    found.push({ index, kind: request?.attrs.kind ?? 'input', tool: request?.attrs.tool, approved, text: block.body });
  });
  return found;
}

/** A tool failure the demo model cannot fix by retrying: the last block, if it is one. */
function lastToolError(blocks: readonly Block[]): Block | undefined {
  const last = blocks.at(-1);
  return last?.tag === 'error' && (last.attrs.kind === 'tool_error' || last.attrs.kind === 'tool_timeout') ? last : undefined;
}

// ---------------------------------------------------------------------------------------------
// calculator

type Op = 'add' | 'subtract' | 'multiply' | 'divide';
type Expr = { readonly value: number } | { readonly op: Op; readonly left: Expr; readonly right: Expr };

/** One tool call of the plan; operands are numbers or the results of earlier calls. */
interface PlannedCall {
  readonly op: Op;
  readonly a: Operand;
  readonly b: Operand;
}
type Operand = { readonly value: number } | { readonly call: number };

const SYMBOL: Record<Op, string> = { add: '+', subtract: '-', multiply: '*', divide: '/' };

function decideCalculator(blocks: readonly Block[]): Step {
  // A human's answer to an input request replaces the expression; the plan restarts after it.
  const given = answers(blocks).filter((a) => a.kind === 'input').at(-1);
  const text = given?.text ?? inputText(blocks);
  const since = given === undefined ? 0 : given.index + 1;
  const recent = blocks.slice(since);

  const expr = parseArithmetic(text);
  if (expr === null) {
    return {
      intent: REQUEST_HUMAN_INPUT,
      args: {
        question: `I could not read a calculation in ${JSON.stringify(clip(text))}. Which calculation should I do? Reply with a simple expression such as (3 + 4) / 2.`,
        format: 'free_text',
        urgency: 'low',
      },
    };
  }
  const shown = showExpr(expr);
  const denied = answers(recent).find((a) => a.kind === 'approval' && a.approved === false);
  if (denied !== undefined) {
    const why = denied.text ? ` The reviewer said: ${clip(denied.text)}` : '';
    return done(`I did not finish ${shown}: the ${denied.tool ?? 'operation'} step was not approved.${why}`);
  }
  const failure = lastToolError(blocks);
  if (failure !== undefined) return done(`I could not finish ${shown}: ${failure.body}`);

  const plan = planCalls(expr);
  if (plan.length === 0) return done(`${shown} is just the number ${shown}.`);
  const results = recent.filter((b) => b.tag === 'tool_result').map((b) => Number(b.body));
  if (results.length >= plan.length) {
    const answer = results[plan.length - 1]!;
    return done(`${shown} = ${formatNumber(answer)}`);
  }
  const next = plan[results.length]!;
  const operand = (o: Operand): number => ('value' in o ? o.value : results[o.call]!);
  const a = operand(next.a);
  const b = operand(next.b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return done(`I could not finish ${shown}: a tool returned something that is not a number.`);
  return { intent: next.op, args: { a, b } };
}

/** Post-order: one call per operation, each after the calls its operands need. */
function planCalls(expr: Expr): PlannedCall[] {
  const calls: PlannedCall[] = [];
  const walk = (e: Expr): Operand => {
    if ('value' in e) return { value: e.value };
    const a = walk(e.left);
    const b = walk(e.right);
    calls.push({ op: e.op, a, b });
    return { call: calls.length - 1 };
  };
  walk(expr);
  return calls;
}

const PRECEDENCE: Record<Op, number> = { add: 1, subtract: 1, multiply: 2, divide: 2 };

function showExpr(expr: Expr): string {
  if ('value' in expr) return formatNumber(expr.value);
  const side = (child: Expr, right: boolean): string => {
    const text = showExpr(child);
    if ('value' in child) return child.value < 0 && right ? `(${text})` : text;
    const lower = PRECEDENCE[child.op] < PRECEDENCE[expr.op];
    const sameButRight = right && PRECEDENCE[child.op] === PRECEDENCE[expr.op] && (expr.op === 'subtract' || expr.op === 'divide');
    return lower || sameButRight ? `(${text})` : text;
  };
  return `${side(expr.left, false)} ${SYMBOL[expr.op]} ${side(expr.right, true)}`;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

function clip(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const NUMBER_WORDS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17,
  eighteen: 18, nineteen: 19, twenty: 20, thirty: 30, forty: 40, fifty: 50, hundred: 100,
};
const NUM = String.raw`-?\d+(?:\.\d+)?`;

/**
 * Reads arithmetic from a request: a symbolic expression ("what is (3 + 4) / 2", "6 times 7") or
 * a chain of verbal steps ("add 3 and 4 then divide by 2", "subtract 2 from 10"). `null` when it
 * finds neither.
 */
export function parseArithmetic(request: string): Expr | null {
  let text = ` ${request.toLowerCase()} `
    .replace(/[×]/g, '*')
    .replace(/[÷]/g, '/')
    .replace(/[−–]/g, '-')
    .replace(/(\d),(\d{3})\b/g, '$1$2');
  for (const [word, n] of Object.entries(NUMBER_WORDS)) text = text.replace(new RegExp(`\\b${word}\\b`, 'g'), String(n));
  return parseVerbal(text) ?? parseSymbolic(text);
}

function parseSymbolic(text: string): Expr | null {
  const symbolic = text
    .replace(/\bmultiplied by\b|\btimes\b/g, ' * ')
    .replace(/\bdivided by\b|\bover\b/g, ' / ')
    .replace(/\bplus\b/g, ' + ')
    .replace(/\bminus\b/g, ' - ')
    .replace(/(\d)\s*x\s*(?=[\d(])/g, '$1 * ')
    .replace(/^\s*(?:please\s+)?(?:what(?:'s| is)|how much is|calculate|compute|evaluate|solve)\b/, ' ')
    .replace(/[?!=.]+\s*$/, ' ')
    .trim();
  if (!/^[\d\s.+\-*/()]+$/.test(symbolic) || !/\d/.test(symbolic)) return null;
  const tokens = symbolic.match(/\d+(?:\.\d+)?|[+\-*/()]/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const expression = (): Expr | null => {
    let left = term();
    while (left !== null && (peek() === '+' || peek() === '-')) {
      const op: Op = tokens[pos++] === '+' ? 'add' : 'subtract';
      const right = term();
      left = right === null ? null : { op, left, right };
    }
    return left;
  };
  const term = (): Expr | null => {
    let left = factor();
    while (left !== null && (peek() === '*' || peek() === '/')) {
      const op: Op = tokens[pos++] === '*' ? 'multiply' : 'divide';
      const right = factor();
      left = right === null ? null : { op, left, right };
    }
    return left;
  };
  const factor = (): Expr | null => {
    const token = tokens[pos++];
    if (token === undefined) return null;
    if (token === '-') {
      const inner = factor();
      if (inner === null) return null;
      return 'value' in inner ? { value: -inner.value } : { op: 'subtract', left: { value: 0 }, right: inner };
    }
    if (token === '(') {
      const inner = expression();
      return tokens[pos++] === ')' ? inner : null;
    }
    const value = Number(token);
    return Number.isFinite(value) ? { value } : null;
  };
  const expr = expression();
  return expr !== null && pos === tokens.length ? expr : null;
}

/** Verbal steps, split on "then" or commas; the first must name both operands. */
function parseVerbal(text: string): Expr | null {
  const clauses = text
    .replace(/^\s*(?:please\s+)?(?:can you\s+)?/, '')
    .split(/,|;|\band then\b|\bthen\b|\band after that\b/)
    .map((c) => c.replace(/[?!.]+\s*$/, '').trim())
    .filter((c) => c !== '');
  if (clauses.length === 0) return null;
  let acc: Expr | null = null;
  for (const clause of clauses) {
    const next: Expr | null = acc === null ? firstClause(clause) : laterClause(clause, acc);
    if (next === null) return null;
    acc = next;
  }
  return acc;
}

function firstClause(clause: string): Expr | null {
  const both = (pattern: string): [number, number] | null => {
    const m = new RegExp(`^${pattern}$`).exec(clause);
    return m ? [Number(m[1]), Number(m[2])] : null;
  };
  const node = (op: Op, pair: [number, number] | null, swap = false): Expr | null =>
    pair === null ? null : { op, left: { value: pair[swap ? 1 : 0] }, right: { value: pair[swap ? 0 : 1] } };
  return (
    node('add', both(`(?:add|sum(?: up)?|the sum of)\\s+(${NUM})\\s+(?:and|to|plus|with)\\s+(${NUM})`)) ??
    node('subtract', both(`subtract\\s+(${NUM})\\s+from\\s+(${NUM})`), true) ??
    node('subtract', both(`(?:subtract|take)\\s+(${NUM})\\s+(?:minus|and|less)\\s+(${NUM})`)) ??
    node('multiply', both(`(?:multiply|the product of)\\s+(${NUM})\\s+(?:by|and|times|with)\\s+(${NUM})`)) ??
    node('divide', both(`divide\\s+(${NUM})\\s+(?:by|over)\\s+(${NUM})`))
  );
}

function laterClause(clause: string, acc: Expr): Expr | null {
  const m = new RegExp(
    `^(add|plus|subtract|minus|take away|multiply(?: it| that| the result)? by|multiply|times|divide(?: it| that| the result)? by|divide|over)\\s+(${NUM})(?:\\s+(?:to|from)\\s+(?:it|that|the result))?$`,
  ).exec(clause);
  if (m === null) return null;
  const word = m[1]!;
  const value = { value: Number(m[2]) };
  const op: Op = /^(add|plus)/.test(word)
    ? 'add'
    : /^(subtract|minus|take)/.test(word)
      ? 'subtract'
      : /^(multiply|times)/.test(word)
        ? 'multiply'
        : 'divide';
  return { op, left: acc, right: value };
}

// ---------------------------------------------------------------------------------------------
// deploybot

function decideDeploybot(blocks: readonly Block[]): Step {
  const text = inputText(blocks).toLowerCase();
  const service = /\bfront[- ]?end\b/.test(text) ? 'frontend' : 'backend';
  const environment = /\bprod(uction)?\b/.test(text) ? 'production' : 'staging';
  const named = /\bv?\d+\.\d+(?:\.\d+)?\b/.exec(text)?.[0];
  const rollback = /\broll ?back\b/.test(text);

  const denied = answers(blocks).find((a) => a.kind === 'approval' && a.approved === false);
  if (denied !== undefined) {
    const why = denied.text ? ` The reviewer said: ${clip(denied.text)}` : '';
    const what = rollback ? `roll back the ${service} on ${environment}` : `deploy the ${service} to ${environment}`;
    return done(`Nothing was deployed: the request to ${what} was not approved.${why}`);
  }
  const failure = lastToolError(blocks);
  if (failure !== undefined) return done(`The ${rollback ? 'rollback' : 'deploy'} did not happen: ${failure.body}`);

  const resultOf = (tool: string): Block | undefined => blocks.filter((b) => b.tag === 'tool_result' && b.attrs.tool === tool).at(-1);
  if (rollback) {
    const rolled = resultOf('rollback');
    if (rolled === undefined) return { intent: 'rollback', args: { service, environment } };
    return done(`Rolled back the ${service} on ${environment}: ${rolled.body}`);
  }
  const tagsResult = resultOf('list_git_tags');
  if (tagsResult === undefined) return { intent: 'list_git_tags', args: {} };
  const deployed = resultOf(`deploy_${service}`);
  if (deployed !== undefined) {
    const d = parseJson(deployed.body) as { id?: string; tag?: string } | null;
    const tag = d?.tag ?? named ?? 'the tag';
    return done(`Deployed the ${service} ${tag} to ${environment}${d?.id ? ` (deployment ${d.id})` : ''}.`);
  }
  const tags = parseJson(tagsResult.body);
  const list = Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
  if (list.length === 0) return done('There is no git tag to deploy.');
  let tag: string;
  if (named !== undefined) {
    const match = list.find((t) => t === named || t === `v${named}` || `v${t}` === named);
    if (match === undefined) return done(`Nothing was deployed: there is no tag ${named} (the tags are ${list.join(', ')}).`);
    tag = match;
  } else {
    tag = [...list].sort(compareVersions).at(-1)!;
  }
  return { intent: `deploy_${service}`, args: { tag, environment } };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Orders tags like v1.4.1 < v1.5.0 < v1.10.0; other tags sort as text, before versions. */
function compareVersions(a: string, b: string): number {
  const parts = (t: string): number[] | null => (/^v?\d+(\.\d+)*$/.test(t) ? t.replace(/^v/, '').split('.').map(Number) : null);
  const pa = parts(a);
  const pb = parts(b);
  if (pa === null || pb === null) return pa === null && pb === null ? a.localeCompare(b) : pa === null ? -1 : 1;
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const SEVERE = /\b(500|crash|down|outage|cannot|can't|unable|data loss|security)\b/i;

/** triage: search known issues with the report's words, then file a verdict from the best match. */
function decideTriage(blocks: readonly Block[]): Step {
  const report = inputText(blocks);
  const search = blocks.find((b) => b.tag === 'tool_result' && b.attrs.tool === 'search_known_issues');
  if (search === undefined) {
    const words = report.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    return { intent: 'search_known_issues', args: { query: words.slice(0, 40).join(' ') || 'bug' } };
  }
  const matches = parseJson(search.body);
  const best = Array.isArray(matches) ? (matches[0] as { id?: string; component?: string; fixTag?: string | null } | undefined) : undefined;
  const component = best?.component === 'frontend' || /\b(button|page|layout|css|screen|ui)\b/i.test(report) ? 'frontend' : 'backend';
  return {
    intent: 'file_triage',
    args: {
      component,
      severity: SEVERE.test(report) ? 'high' : /cosmetic|typo|blurry/i.test(report) ? 'low' : 'medium',
      summary: clip(report, 100) || 'bug report',
      ...(best?.id ? { knownIssue: best.id } : {}),
      ...(best?.fixTag ? { fixTag: best.fixTag } : {}),
    },
  };
}
