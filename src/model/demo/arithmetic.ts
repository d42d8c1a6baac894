// Arithmetic the demo calculator skill reads from a request, and how it shows it.

export type Op = 'add' | 'subtract' | 'multiply' | 'divide';
export type Expr = { readonly value: number } | { readonly op: Op; readonly left: Expr; readonly right: Expr };

/** One tool call of the plan; operands are numbers or the results of earlier calls. */
export interface PlannedCall {
  readonly op: Op;
  readonly a: Operand;
  readonly b: Operand;
}
export type Operand = { readonly value: number } | { readonly call: number };

const SYMBOL: Record<Op, string> = { add: '+', subtract: '-', multiply: '*', divide: '/' };

/** Post-order: one call per operation, each after the calls its operands need. */
export function planCalls(expr: Expr): PlannedCall[] {
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

export function showExpr(expr: Expr): string {
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

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
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
