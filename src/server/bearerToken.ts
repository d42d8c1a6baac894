import { codePointName } from '../errors.js';

/**
 * RFC 6750's token68, the only bearer token an `Authorization: Bearer` header carries, and the only
 * one hono's `bearerAuth` takes: any other is refused 400 on every request.
 */
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;

/** The characters of {@link TOKEN68}, as a message says them. */
const ALLOWED = 'use letters, digits and - . _ ~ + / (and = only at the end), as RFC 6750 allows';

/**
 * Why `token` cannot be a bearer token, naming `setting`, the first character refused and its
 * place, never the token; undefined when it can be one.
 *
 * @example
 * ```ts
 * bearerTokenProblem('abc$1', 'SWITCHYARD_TOKEN');
 * // 'SWITCHYARD_TOKEN has a character a bearer token cannot carry (U+0024 at index 3): use letters, …'
 * ```
 */
export function bearerTokenProblem(token: string, setting: string): string | undefined {
  if (TOKEN68.test(token)) return undefined;
  const outside = token.search(/[^A-Za-z0-9._~+/=-]/);
  // Otherwise an `=` that does not end the token (one alone included).
  const index = outside !== -1 ? outside : /^=|=(?=[^=])/.exec(token)!.index;
  return `${setting} has a character a bearer token cannot carry (${codePointName(token, index)} at index ${index}): ${ALLOWED}`;
}
