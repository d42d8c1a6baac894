import { expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';

/** The message of the ConfigError `define` throws (failing the test on anything else thrown), or 'built' when it throws nothing. */
export function refusal(define: () => unknown): string {
  try {
    define();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  return 'built';
}
