import { clipText } from '../errors.js';

// A server that answers with a web page (a gateway's error page, a login page, a wrong base URL's
// site) instead of the API: its markup is no message, its title is.

/** How far into a body its `<html>` or doctype is looked for, and its title. */
const HEAD_CHARS = 2048;
const TITLE_SEARCH_CHARS = 65_536;
/** The most characters of a title a message quotes. */
const MAX_TITLE_CHARS = 120;

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'", nbsp: ' ' };

/**
 * What an HTML page a server sent instead of the API's JSON says about itself, for a failure
 * message: `an HTML page, not the API's JSON: "<its title>"` (or without a title); `undefined` when
 * `text` is no HTML page.
 */
export function htmlPageSummary(text: string): string | undefined {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('<') || !/<!doctype html|<html[\s>]/i.test(trimmed.slice(0, HEAD_CHARS))) return undefined;
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(trimmed.slice(0, TITLE_SEARCH_CHARS))?.[1];
  const said = title === undefined ? '' : decoded(title).replace(/\s+/g, ' ').trim();
  return said === '' ? "an HTML page, not the API's JSON" : `an HTML page, not the API's JSON: ${JSON.stringify(clipText(said, MAX_TITLE_CHARS))}`;
}

/** `text` with the entities a title commonly holds decoded. */
function decoded(text: string): string {
  return text.replace(/&(#39|[a-z]+);/gi, (entity, name: string) => ENTITIES[name.toLowerCase()] ?? entity);
}
