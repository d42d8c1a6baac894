import { hasCredentials, hasSealedCredentials, openUrl, sealUrl } from '../context/sealedUrl.js';
import { InvalidInputError } from '../errors.js';

const NO_SEALING_SECRET =
  'callbackUrl refused: it holds credentials (user:password@, or a query parameter named as a secret: token, api_key, sig, code…), which the thread may only keep sealed with the webhook secret, and this server has none; set SWITCHYARD_WEBHOOK_SECRET (the same on every process that runs threads), or launch with the callbackUrl without its credentials and have the receiver verify the X-Switchyard-Signature instead';

const ALREADY_SEALED =
  'callbackUrl refused: its userinfo or a secret-named query value is a sealed token (as a thread shows it); give the credentials themselves (user:password@, ?token=…), or none';

/**
 * The callbackUrl as a launch records it in the thread: its credentials, if any (its userinfo, the
 * values of its secret-named query parameters), sealed with `secret` (see `sealUrl`), so the thread
 * never holds them in clear. Throws {@link InvalidInputError} (400) when it has credentials and
 * there is no secret to seal them with, or when one of them is already a sealed token.
 */
export function recordedCallbackUrl(given: string, secret: string): string {
  if (hasSealedCredentials(given)) throw new InvalidInputError(ALREADY_SEALED);
  if (!hasCredentials(given)) return given;
  if (secret === '') throw new InvalidInputError(NO_SEALING_SECRET);
  return sealUrl(given, secret);
}

/**
 * Whether a relaunch's callbackUrl is the one the thread recorded: the same URL once its sealed
 * credentials are opened with `secret`, or the first of a list they open with (the current secret,
 * then the ones it replaced); a recorded one that does not open is taken as another.
 */
export function sameCallbackUrl(recorded: string | undefined, given: string, secret: string | readonly string[]): boolean {
  if (recorded === undefined) return false;
  if (recorded === given) return true;
  const opened = openUrl(recorded, secret);
  return opened.success && hrefOf(opened.data) === hrefOf(given);
}

function hrefOf(url: string): string | undefined {
  try {
    return new URL(url).href;
  } catch {
    return undefined;
  }
}
