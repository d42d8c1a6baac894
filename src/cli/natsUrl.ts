import { redactUrl } from '../context/redactUrl.js';
import { UsageError } from './cliContext.js';

/** The schemes nats.js connects with from Node; a bare `host:port` means `nats://`. */
const NATS_SCHEMES = ['nats:', 'tls:'];

const FORMS = 'give nats://host:port, tls://host:port or host:port (comma-separated for several)';

/** Said when a URL with credentials does not parse: the likely cause. */
const ENCODE_HINT = 'a password or token holding , / ? # @ or a space must be percent-encoded (%2C %2F %3F %23 %40 %20)';

/**
 * The server URLs of `--nats-url` / NATS_URL (`setting`, the one the value came from),
 * comma-separated, each as written. Another scheme is refused: nats.js would take an `http://`
 * URL's host and port and connect as if it said `nats://`. The message never holds a password,
 * even one written raw with `#`, `?`, `/` or `,`.
 */
export function natsServerUrls(value: string, setting = '--nats-url'): string[] {
  const entries = value.split(',');
  return entries.map((entry, index) => checkedServer(entry.trim(), setting, () => shownEntry(value, entries.length, index)));
}

/**
 * How a refused entry is named: masked; by its place alone in a list holding credentials, where a
 * comma may have cut a password in two and an entry be a piece of one.
 */
function shownEntry(value: string, count: number, index: number): string {
  if (count > 1 && value.includes('@')) return `entry ${index + 1} of ${count}`;
  return redactUrl(value.split(',')[index]!.trim());
}

function checkedServer(url: string, setting: string, shown: () => string): string {
  if (url === '') throw new UsageError(`${setting} has an empty entry: ${FORMS}`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  // nats.js reads a URL without a scheme as nats://.
  const parsed = URL.parse(scheme === undefined ? `nats://${url}` : url);
  if (parsed === null || (scheme !== undefined && !NATS_SCHEMES.includes(`${scheme.toLowerCase()}:`))) {
    const hint = parsed === null && url.includes('@') ? `; ${ENCODE_HINT}` : '';
    throw new UsageError(`${setting} ${shown()} is not a NATS server URL: ${FORMS}${hint}`);
  }
  return url;
}
