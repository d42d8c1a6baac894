import { z } from 'zod';
import { tool, type Tool } from './tool.js';
import { DONE_FOR_NOW, REQUEST_HUMAN_INPUT } from '../thread/events.js';

/** Arguments of `request_human_input`. */
export const requestHumanInputSchema = z.object({
  question: z.string().min(1).describe('What to ask the human'),
  context: z.string().optional().describe('What the human needs to know to answer'),
  urgency: z.enum(['low', 'medium', 'high']).default('medium'),
  format: z.enum(['free_text', 'yes_no', 'multiple_choice']).default('free_text'),
  choices: z.array(z.string()).optional().describe('The options, when format is multiple_choice'),
})
  // A response must be a non-blank answer among the choices: with none, no one could answer.
  .refine((ask) => ask.format !== 'multiple_choice' || ask.choices === undefined || ask.choices.some((choice) => choice.trim() !== ''), {
    path: ['choices'],
    message: 'a multiple_choice question needs at least one non-blank choice',
  });

/** Arguments of `done_for_now`. */
export const doneForNowSchema = z.object({
  message: z.string().describe('The final answer or summary for the user'),
});

/**
 * Contacts a human and pauses the thread until they answer (factor 7). The runtime handles it;
 * `run` is never called.
 */
export const requestHumanInput: Tool = tool({
  name: REQUEST_HUMAN_INPUT,
  description:
    'Ask a human for information, a decision or clarification. The agent pauses until they answer.',
  input: requestHumanInputSchema,
  run: () => null,
});

/** Ends the run with a final message for the user. The runtime handles it; `run` is never called. */
export const doneForNow: Tool = tool({
  name: DONE_FOR_NOW,
  description: 'Finish: give the user the final answer or a summary of what was done.',
  input: doneForNowSchema,
  run: () => null,
});

/** The human-contact tools every agent has. */
export const humanTools: readonly Tool[] = [requestHumanInput, doneForNow];
