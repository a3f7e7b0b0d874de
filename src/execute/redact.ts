/**
 * Keeps secrets out of what rollgate stores and posts: step output, HTTP response excerpts and
 * error texts pass through `redact` before they reach the database or a review message.
 */
export const REDACTED = '[redacted]';

/** Variable names that hold secrets by convention (`DEPLOY_TOKEN`, `DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`…). */
const SECRET_NAME = /(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|AUTH|_KEY$|^KEY$)/i;

/**
 * Values shorter than this are not treated as secrets: redacting "1" or "on" everywhere would
 * wreck the output and tell the reader the value anyway.
 */
const MIN_SECRET_LENGTH = 4;
/**
 * Secrets shorter than this are hidden only as written (and URL- or JSON-escaped): their base64
 * and hex forms are so short that they turn up in unrelated output, and the base64 of a short
 * secret inside a longer blob keeps only a few characters that the secret alone decides.
 */
const MIN_ENCODED_LENGTH = 8;

export function looksSecret(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** The values to hide: those of variables whose names look secret, plus secrets rollgate was configured with. */
export function secretValues(env: Readonly<Record<string, string>>, configured: readonly string[] = []): string[] {
  const values = [...Object.entries(env).filter(([name]) => looksSecret(name)).map(([, v]) => v), ...configured];
  return [...new Set(values.filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
}

/**
 * Any slice this long of a JWT-shaped secret (a step identity token, an OIDC access token) is
 * redacted, wherever it stands: a step that prints part of a token (its payload, a prefix) leaks
 * no piece long enough to replay or to guess the rest from.
 */
export const TOKEN_SLICE_LENGTH = 16;
/** Three base64url parts, as a signed JWT is; the whole secret, so an ordinary password never qualifies. */
const JWT_SHAPE = /^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$/;
/** Runs of the characters a JWT is made of, long enough to hold a slice of one. */
const TOKEN_RUN = new RegExp(`[A-Za-z0-9_.-]{${TOKEN_SLICE_LENGTH},}`, 'g');

/**
 * Every `TOKEN_SLICE_LENGTH`-character slice of a JWT-shaped secret (none for other secrets), last
 * first: the stream redactor, meeting a printed token cut by a chunk boundary, then moves its cut
 * back to the token's start in one pass instead of one slice per pass.
 */
export function tokenSlices(secret: string): string[] {
  if (!JWT_SHAPE.test(secret)) return [];
  const slices: string[] = [];
  for (let i = secret.length - TOKEN_SLICE_LENGTH; i >= 0; i--) slices.push(secret.slice(i, i + TOKEN_SLICE_LENGTH));
  return slices;
}

/**
 * Replaces each stretch of `text` covered by slices of a JWT-shaped secret with one `[redacted]`.
 * Cheap: only runs of the token alphabet 16 or more long are looked into, one hash lookup per
 * position; a token's characters are URL- and JSON-safe, so its URL and JSON forms are itself.
 */
export function redactTokenSlices(text: string, secrets: readonly string[]): string {
  const slices = new Set(secrets.flatMap(tokenSlices));
  if (slices.size === 0) return text;
  const covered: Array<[number, number]> = [];
  for (const run of text.matchAll(TOKEN_RUN)) {
    const start = run.index;
    for (let i = 0; i + TOKEN_SLICE_LENGTH <= run[0].length; i++) {
      if (!slices.has(run[0].slice(i, i + TOKEN_SLICE_LENGTH))) continue;
      const from = start + i;
      const to = from + TOKEN_SLICE_LENGTH;
      const last = covered.at(-1);
      if (last && from <= last[1]) last[1] = Math.max(last[1], to);
      else covered.push([from, to]);
    }
  }
  if (covered.length === 0) return text;
  let out = '';
  let at = 0;
  for (const [from, to] of covered) {
    out += text.slice(at, from) + REDACTED;
    at = to;
  }
  return out + text.slice(at);
}

/**
 * Every form of `secret` that is redacted (see `encodedForms`), and for a JWT-shaped secret each of
 * its slices (`tokenSlices`), so output streamed in chunks holds back a slice cut in two.
 */
export function secretForms(secret: string): string[] {
  return [...encodedForms(secret), ...tokenSlices(secret)];
}

/**
 * The forms of `secret` itself: as written; URL-encoded (encodeURIComponent, form
 * encoding, lowercase escapes); JSON-escaped (plain, ASCII-only, with escaped slashes); hex; and
 * base64 (standard and URL-safe), both whole and as the characters only the secret decides when
 * it sits inside a larger blob at each of the three byte offsets a base64 group has.
 */
function encodedForms(secret: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) return [];
  const json = JSON.stringify(secret).slice(1, -1);
  const percent = encodeURIComponent(secret);
  const forms = [
    secret,
    percent,
    percent.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    new URLSearchParams({ v: secret }).toString().slice(2),
    json,
    json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
    json.replace(/\//g, '\\/'),
  ];
  if (secret.length >= MIN_ENCODED_LENGTH) {
    const bytes = Buffer.from(secret);
    forms.push(bytes.toString('hex'), bytes.toString('hex').toUpperCase());
    forms.push(bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').replace(/=+$/, ''));
    for (const offset of [0, 1, 2]) {
      const blob = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
      // characters before `offset`'s group mix in unknown bytes; so do those after the last full 6 bits
      const core = blob.slice(offset === 0 ? 0 : offset + 1, Math.floor(((offset + bytes.length) * 8) / 6));
      forms.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return forms.filter((f) => f.length >= MIN_SECRET_LENGTH);
}

/**
 * Replaces every form of every secret (longest first, so a form containing another is hidden
 * whole), then whatever slices of JWT-shaped secrets remain.
 */
export function redact(text: string, secrets: readonly string[]): string {
  const forms = [...new Set(secrets.flatMap(encodedForms))].sort((a, b) => b.length - a.length);
  let out = text;
  for (const form of forms) {
    if (out.includes(form)) out = out.split(form).join(REDACTED);
  }
  return redactTokenSlices(out, secrets);
}

/**
 * The last `maxBytes` of `text` after redaction. The caller keeps a little more than it stores,
 * so a secret cut in half at the start of the kept output is redacted before the cut, not after.
 */
export function redactedTail(text: string, secrets: readonly string[], maxBytes: number): string {
  const clean = redact(text, secrets);
  const buf = Buffer.from(clean);
  if (buf.length <= maxBytes) return clean;
  return '…' + buf.subarray(buf.length - maxBytes).toString('utf8').replace(/^\uFFFD+/, '');
}
