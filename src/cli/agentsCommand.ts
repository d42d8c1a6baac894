import type { Command } from 'commander';
import type { AgentSummary } from './client.js';
import type { CliContext } from './cliContext.js';

/**
 * `switchyard agents`: what the server launches (`GET /agents`), one line each: its name, kind,
 * input and description, and on a server that runs none itself (`serve --no-worker`) whether a
 * worker serves it. A project of 40 agents is read at a glance, not from the JSON.
 */
export function addAgentsCommand(program: Command, cli: CliContext): void {
  program
    .command('agents')
    .description('list the agents and pipelines the server launches (a worker serving each, on serve --no-worker)')
    .action(async (_opts: unknown, command: Command) => {
      const agents = await cli.clientOf(command).agents();
      if (cli.globals(command).json) cli.printJson(agents);
      else cli.out(agentsTable(agents));
    });
}

/** The table `switchyard agents` prints. */
export function agentsTable(agents: readonly AgentSummary[]): string {
  if (agents.length === 0) return 'no agents';
  const served = agents.some((a) => a.served !== undefined);
  const rows = [
    ['NAME', 'KIND', 'INPUT', ...(served ? ['SERVED'] : []), 'DESCRIPTION'],
    ...agents.map((a) => [a.name, a.kind, inputCell(a.inputSchema), ...(served ? [a.served === false ? 'no' : 'yes'] : []), oneLine(a.description ?? '')]),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ').trimEnd()).join('\n');
}

/** An input schema in a few characters: `any`, `{orderId, note?}` for an object, else its JSON Schema type. */
function inputCell(schema: unknown): string {
  if (typeof schema !== 'object' || schema === null) return 'any';
  const { type, properties, required } = schema as { type?: unknown; properties?: unknown; required?: unknown };
  if (type === 'object' && typeof properties === 'object' && properties !== null) {
    const needed = Array.isArray(required) ? required : [];
    const keys = Object.keys(properties).map((key) => (needed.includes(key) ? key : `${key}?`));
    return oneLine(`{${keys.join(', ')}}`, 40);
  }
  return typeof type === 'string' ? type : Array.isArray(type) ? type.join('|') : 'any';
}

/** Text on one line, cut to `max` characters. */
function oneLine(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
