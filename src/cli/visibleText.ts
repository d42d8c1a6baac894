/**
 * C0 controls but newline and tab, DEL and C1 controls: what a terminal would act on; and the
 * bidirectional formatting characters (marks U+061C, U+200E, U+200F; embeddings and overrides
 * U+202A-U+202E; isolates U+2066-U+2069), by which a terminal would show a line in another order
 * than its text (a right-to-left override turns `invoice\u202efdp.exe` into `invoiceexe.pdf`).
 */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text as the CLI may print it to a terminal: each control character (C0 but newline and tab, DEL,
 * C1) and each bidirectional formatting character shown as a visible escape (`\r`, `\u001b`,
 * `\u202e`), so text from outside (a trigger's input, a model's answer, a human's response) cannot
 * move the cursor, clear the screen, retitle the window, hide what is printed after it or reorder
 * it; a `\r\n` line ending prints as a newline. JSON printed so stays JSON: the escapes are JSON's
 * own, and JSON text holds no raw line ending (nor any of these characters outside its strings).
 */
export function visibleText(text: string): string {
  // A \r\n line ending (text from Windows, a tool's HTTP body) is a line ending, not a control to show.
  return text.replace(/\r\n/g, '\n').replace(CONTROL, (char) => (char === '\r' ? '\\r' : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
