// How wide a line of text is in the chart's font, so the layout makes room for every label before a
// browser draws it. Advance widths of DejaVu Sans (the chart's first font; Verdana, its fallback, is
// as wide), measured in Chromium, in em, for the printable ASCII characters from ' ' to '~'.

const REGULAR = [
  0.32, 0.4, 0.46, 0.84, 0.64, 0.95, 0.78, 0.27, 0.39, 0.39, 0.5, 0.84, 0.32, 0.36, 0.32, 0.34, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64,
  0.64, 0.64, 0.34, 0.34, 0.84, 0.84, 0.84, 0.53, 1, 0.68, 0.69, 0.7, 0.77, 0.63, 0.58, 0.77, 0.75, 0.29, 0.29, 0.66, 0.56, 0.86, 0.75, 0.79,
  0.6, 0.79, 0.69, 0.63, 0.61, 0.73, 0.68, 0.99, 0.69, 0.61, 0.69, 0.39, 0.34, 0.39, 0.84, 0.5, 0.5, 0.61, 0.63, 0.55, 0.63, 0.62, 0.35, 0.63,
  0.63, 0.28, 0.28, 0.58, 0.28, 0.97, 0.63, 0.61, 0.63, 0.63, 0.41, 0.52, 0.39, 0.63, 0.59, 0.82, 0.59, 0.59, 0.52, 0.64, 0.34, 0.64, 0.84,
];
const SEMIBOLD = [
  0.35, 0.46, 0.52, 0.84, 0.7, 1, 0.87, 0.31, 0.46, 0.46, 0.52, 0.84, 0.38, 0.42, 0.38, 0.37, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7,
  0.4, 0.4, 0.84, 0.84, 0.84, 0.58, 1, 0.77, 0.76, 0.73, 0.83, 0.68, 0.68, 0.82, 0.84, 0.37, 0.37, 0.77, 0.64, 1, 0.84, 0.85, 0.73, 0.85, 0.77,
  0.72, 0.68, 0.81, 0.77, 1.1, 0.77, 0.72, 0.73, 0.46, 0.37, 0.46, 0.84, 0.5, 0.5, 0.67, 0.72, 0.59, 0.72, 0.68, 0.44, 0.72, 0.71, 0.34, 0.34,
  0.67, 0.34, 1.04, 0.71, 0.69, 0.72, 0.72, 0.49, 0.6, 0.48, 0.71, 0.65, 0.92, 0.65, 0.65, 0.58, 0.71, 0.37, 0.71, 0.84,
];
/** Characters outside the table (`·`, `…`, letters with accents, CJK) count as one em: wide enough. */
const OTHER = 1;
/** Rounding in the table and hinting at small sizes. */
const SLACK = 1.04;

/** The width in px of `text` at `size` px, regular (400) or semibold (600). */
export function textWidth(text: string, size: number, weight: 400 | 600 = 400): number {
  const table = weight === 600 ? SEMIBOLD : REGULAR;
  let em = 0;
  for (const char of text) {
    const code = char.codePointAt(0)! - 32;
    em += table[code] ?? OTHER;
  }
  return Math.ceil(em * size * SLACK);
}
