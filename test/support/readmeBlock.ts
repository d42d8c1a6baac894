import { expect } from 'vitest';

/** The first fenced block of `lang` after the README line that contains `marker`. */
export function readmeBlock(readme: string, marker: string, lang: string): string {
  const at = readme.indexOf(marker);
  expect(at, `README has "${marker}"`).toBeGreaterThan(-1);
  const open = readme.indexOf(`\n\`\`\`${lang}\n`, at);
  const close = readme.indexOf('\n```\n', open + 1);
  return readme.slice(open + lang.length + 5, close + 1);
}
