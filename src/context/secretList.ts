/**
 * The secrets a current one replaced, as a rotation lists them (`SWITCHYARD_WEBHOOK_SECRET_PREVIOUS`,
 * `SWITCHYARD_HOOK_SECRET_PREVIOUS`): comma-separated, each trimmed, in order, each once. A secret
 * so listed cannot hold a comma, nor start or end with a blank.
 */
export type SecretList = { readonly success: true; readonly data: readonly string[] } | { readonly success: false; readonly error: string };

/**
 * The previous secrets `raw` lists, checked against `current`: unset or blank is none; an empty
 * item (a comma too many) or an item that is `current` (it was not replaced) is an error value,
 * naming the item by its place, never by its value. (A list without a current secret is the
 * caller's to refuse: it names the setting that is missing.)
 */
export function parseSecretList(raw: string | undefined, current: string): SecretList {
  if (raw === undefined || raw.trim() === '') return { success: true, data: [] };
  const items = raw.split(',').map((item) => item.trim());
  const secrets: string[] = [];
  for (const [n, item] of items.entries()) {
    const place = `item ${n + 1} of ${items.length}`;
    if (item === '') return { success: false, error: `${place} is empty: separate the secrets with single commas, none at either end` };
    if (item === current || item === current.trim()) return { success: false, error: `${place} is the current secret: list only the secrets it replaced` };
    if (!secrets.includes(item)) secrets.push(item);
  }
  return { success: true, data: secrets };
}

/**
 * The previous secrets `raw` lists, as a library's default reads them from the environment:
 * leniently (empty items and the current secret are skipped, not refused; the CLI refuses them).
 */
export function secretsListedIn(raw: string | undefined, current: string): readonly string[] {
  const items = (raw ?? '').split(',').map((item) => item.trim());
  return [...new Set(items.filter((item) => item !== '' && item !== current))];
}
