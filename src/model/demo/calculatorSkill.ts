import { REQUEST_HUMAN_INPUT } from '../../thread/events.js';
import type { ContextBlock } from '../../context/parseContext.js';
import { formatNumber, parseArithmetic, planCalls, showExpr, type Operand } from './arithmetic.js';
import { answers, clip, done, inputText, lastToolError, tookEffect, type DemoSkill, type Step } from './blocks.js';

type Block = ContextBlock;

/**
 * Parses an arithmetic request ("what is (3 + 4) / 2", "add 3 and 4 then divide by 2") into binary
 * operations, calls one tool per operation with the earlier results, and finishes with the
 * result. A denied division ends the run with an explanation; an input it cannot parse makes it
 * ask a human for a simple expression.
 */
export const calculatorSkill: DemoSkill = {
  name: 'calculator',
  tools: ['add', 'subtract', 'multiply', 'divide'],
  decide: decideCalculator,
};

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
  // It took effect, but what it returned is lost: the later steps need it.
  const effected = tookEffect(recent);
  if (effected !== undefined) return done(`I could not finish ${shown}: the ${effected.tool} step was interrupted before its result was recorded (a human said it took effect${effected.said === '.' ? '' : effected.said}).`);
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

