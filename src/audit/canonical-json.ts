import { storableText } from '../db/storable-text.js';

/** A JSON value after `toStorable`: what both backends store and give back unchanged. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * The value as it will read back from a `jsonb` column on PostgreSQL and PGlite, so its hash
 * is the same before and after the round trip: what `JSON.stringify` drops or changes is applied
 * now (undefined keys vanish, `Date`s become ISO strings, NaN and Infinity become null, -0
 * becomes 0), and strings jsonb refuses (a NUL character, a lone surrogate) are made storable
 * with U+FFFD instead of failing the transaction that records the fact.
 */
export function toStorable(value: unknown): JsonValue {
  const text = JSON.stringify(value);
  if (text === undefined) return null;
  return storableStrings(JSON.parse(text) as JsonValue);
}

/** A text column's value, made storable the same way (PostgreSQL text refuses NUL too). */

function storableStrings(value: JsonValue): JsonValue {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableStrings);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) out[storableText(k)] = storableStrings(v);
    return out;
  }
  return value;
}

/**
 * Canonical JSON of a storable value: object keys sorted by UTF-16 code unit (what `sort()`
 * does), no whitespace, numbers and strings as `JSON.stringify` writes them. jsonb keeps neither
 * key order (it sorts by length, then bytes) nor number spelling (`1.50` reads back as 1.5 in
 * JavaScript), so the hash is taken over this form, never over the stored text.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as { readonly [key: string]: JsonValue };
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k]!)}`)
    .join(',')}}`;
}
