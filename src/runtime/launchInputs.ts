import type { z } from 'zod';

/**
 * What a runtime launches: the input each agent or pipeline takes, by name. This, the default of
 * {@link Runtime}, takes any name with any input (checked at run time): a runtime whose
 * definitions' names its types do not know, or one annotated `Runtime`.
 */
export type LaunchInputs = Readonly<Record<string, unknown>>;

/**
 * What launching one agent or pipeline takes: what its input schema takes (`z.input`, so a field
 * with a default may be left out), or, without a schema, any value (a launch checks it is JSON).
 */
export type LaunchInputOf<TDefinition> = TDefinition extends { readonly input: infer TSchema } ? ([TSchema] extends [z.ZodType] ? z.input<TSchema> : unknown) : unknown;

/**
 * The {@link LaunchInputs} of agents and pipelines, by name: what {@link createRuntime} infers
 * from its options. When one of them has a name the types do not know (a `string`, not a literal),
 * any name is taken with any input, as before.
 *
 * @example
 * ```ts
 * type Inputs = LaunchInputsOf<typeof support | typeof release>; // { support: { orderId: number }; release: ... }
 * let runtime: Runtime<Inputs>;
 * ```
 */
export type LaunchInputsOf<TDefinition extends { readonly name: string }> = string extends TDefinition['name']
  ? LaunchInputs
  : { readonly [T in TDefinition as T['name']]: LaunchInputOf<T> };
