/**
 * What PostgreSQL (and PGlite) refuse to store, made storable with U+FFFD: a NUL character in
 * text, and in jsonb also a `\u0000` escape and an escaped surrogate half without its other
 * half. Text from outside (Gerrit, webhooks, comments) may carry any of them; refusing it would
 * fail the transaction on every retry and stall the change for good.
 */

/** NUL, and a surrogate half without its other half. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A text value, made storable (PostgreSQL text refuses NUL; UTF-8 has no lone surrogates). */
export function storableText(s: string): string {
  return s.replace(UNSTORABLE, '\uFFFD');
}

// A JSON escape counts only when the backslash before `u` is not itself escaped: an even run of
// backslashes (possibly none) precedes it.
const UNESCAPED = String.raw`(?<=(?:^|[^\\])(?:\\\\)*)`;
const HIGH = String.raw`\\u[dD][89abAB][0-9a-fA-F]{2}`;
const LOW = String.raw`\\u[dD][c-fC-F][0-9a-fA-F]{2}`;
const UNSTORABLE_ESCAPE = new RegExp(`${UNESCAPED}(?:\\\\u0000|${HIGH}(?!${LOW})|(?<!${HIGH})${LOW})`, 'g');
const MAYBE_UNSTORABLE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/**
 * A JSON document as text (what rollgate binds to a jsonb column), with the escapes jsonb
 * refuses replaced by `\ufffd` and every other byte left as it was. Text that is not a JSON
 * object or array is returned unchanged: outside JSON those six characters are just text.
 */
export function storableJsonText(s: string): string {
  if (!MAYBE_UNSTORABLE_ESCAPE.test(s)) return s;
  const start = s.trimStart()[0];
  if (start !== '{' && start !== '[') return s;
  try {
    JSON.parse(s);
  } catch {
    return s;
  }
  return s.replace(UNSTORABLE_ESCAPE, '\\ufffd');
}
