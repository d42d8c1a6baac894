import { redactUrl } from '../context/redactUrl.js';
import { UsageError } from './cliContext.js';

/** The schemes nats.js connects with from Node; a bare `host:port` means `nats://`. */
const NATS_SCHEMES = ['nats:', 'tls:'];

const FORMS = 'give nats://host:port, tls://host:port or host:port (comma-separated for several)';

/**
 * The server URLs of `--nats-url` / NATS_URL, comma-separated, each as written. Another scheme is
 * refused: nats.js would take an `http://` URL's host and port and connect as if it said `nats://`.
 */
export function natsServerUrls(value: string): string[] {
  return value.split(',').map((entry) => checkedServer(entry.trim()));
}

function checkedServer(url: string): string {
  if (url === '') throw new UsageError(`--nats-url has an empty entry: ${FORMS}`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  // nats.js reads a URL without a scheme as nats://.
  const parsed = URL.parse(scheme === undefined ? `nats://${url}` : url);
  if (parsed === null || (scheme !== undefined && !NATS_SCHEMES.includes(`${scheme.toLowerCase()}:`))) {
    throw new UsageError(`--nats-url ${redactUrl(url)} is not a NATS server URL: ${FORMS}`);
  }
  return url;
}
