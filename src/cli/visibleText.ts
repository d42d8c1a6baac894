/** C0 controls but newline and tab, DEL and C1 controls: what a terminal would act on. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text as the CLI may print it to a terminal: each control character (C0 but newline and tab, DEL,
 * C1) shown as a visible escape (`\r`, `\u001b`), so text from outside (a trigger's input, a
 * model's answer, a human's response) cannot move the cursor, clear the screen, retitle the window
 * or hide what is printed after it; a `\r\n` line ending prints as a newline. JSON printed so
 * stays JSON: the escapes are JSON's own, and JSON text holds no raw line ending.
 */
export function visibleText(text: string): string {
  // A \r\n line ending (text from Windows, a tool's HTTP body) is a line ending, not a control to show.
  return text.replace(/\r\n/g, '\n').replace(CONTROL, (char) => (char === '\r' ? '\\r' : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
