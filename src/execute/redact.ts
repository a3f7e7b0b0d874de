/**
 * Keeps secrets out of what rollgate stores and posts: step output, HTTP response excerpts and
 * error texts pass through `redact` before they reach the database or a review message.
 */
export const REDACTED = '[redacted]';

/** Variable names that hold secrets by convention (`DEPLOY_TOKEN`, `DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`…). */
const SECRET_NAME = /(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|AUTH|_KEY$|^KEY$)/i;

/** Values shorter than this are not treated as secrets: redacting "1" or "on" everywhere would say nothing. */
const MIN_SECRET_LENGTH = 4;

export function looksSecret(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** The values to hide: those of variables whose names look secret, plus secrets rollgate was configured with. */
export function secretValues(env: Readonly<Record<string, string>>, configured: readonly string[] = []): string[] {
  const values = [...Object.entries(env).filter(([name]) => looksSecret(name)).map(([, v]) => v), ...configured];
  return [...new Set(values.filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of every secret (longest first, so one containing another is hidden whole). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
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
