import { z } from 'zod';
import { agent, judge } from 'switchyard';
import { lookedUpTotal, lookupOrder, refund } from '../../tools/orders.js';

/** The refund policy, placed in the prompt as `{{policy}}` (a variable of this agent's own). */
const POLICY = [
  '- Look the order up before refunding anything.',
  '- Refund at most the order total; if the customer asks for more, refund the total.',
].join('\n');

/**
 * A step of this agent's own after each decision (factor 8): a refund above the order total, or
 * of an order not looked up yet, is sent back to the model with the reason. Its verdict is
 * recorded in the thread as a `custom` event, and the inspector draws it as a state.
 */
export const withinTotal = judge({
  name: 'within_total',
  output: z.object({ amount: z.number(), total: z.number().nullable() }),
  run: (call, { thread }) => {
    if (call.tool !== refund.name) return { verdict: 'accept' };
    const amount = Number(call.args.amount);
    const total = lookedUpTotal(thread, String(call.args.orderId));
    if (total === null) return { verdict: 'reject', feedback: `look order ${String(call.args.orderId)} up first`, output: { amount, total } };
    if (amount > total) return { verdict: 'reject', feedback: `${amount} is more than the order total (${total})`, output: { amount, total } };
    return { verdict: 'accept', output: { amount, total } };
  },
});

/** Refunds an order: looks it up, refunds at most its total, and only with a human's approval. */
export const refunds = agent({
  name: 'refunds',
  description: 'handles refund requests for orders',
  prompt: new URL('./prompt.md', import.meta.url),
  variables: { policy: POLICY },
  tools: [lookupOrder, refund],
  afterDecision: [withinTotal],
  maxSteps: 8,
});
