import { describe, expect, it } from 'vitest';
import { redact, REDACTED, TOKEN_SLICE_LENGTH } from '../../src/execute/redact.js';
import { StreamRedactor } from '../../src/execute/stream-redactor.js';

/**
 * A JWT-shaped secret (a step identity token, an OIDC access token) is redacted whole, encoded, and
 * in any slice of 16 or more characters: the payload, the signature, a prefix, a window from the
 * middle. The stream redactor, fed the output in pieces, lets out the same as redacting it whole.
 */
const TOKEN =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6Ik1ZLUtJRCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwcm9qZWN0OnBheW1lbnRzL2FwaTplbnZpcm9ubWVudDpwcm9kdWN0aW9uIiwiZXhwIjoxNzY1MTAwMDAwfQ.MEUCIQDkZ3xVb9Qy1n2Lr8TgM0vQ1JmT8b7xHq3eW9pK2sFhPQIgU6yR0cN1aZ4tV8wLkP3fQ9mB2xY7hJ5sE0dC1gR4nK8';

function streamed(text: string, secrets: readonly string[], cuts: readonly number[]): string {
  const r = new StreamRedactor(secrets);
  let from = 0;
  let out = '';
  for (const cut of [...cuts, text.length]) {
    out += r.push(text.slice(from, cut));
    from = cut;
  }
  return out + r.end();
}

describe('slices of a JWT-shaped secret', () => {
  it('redacts the whole token, its parts, any 16-character window and longer slices, each stretch once', () => {
    const [header, payload, signature] = TOKEN.split('.') as [string, string, string];
    expect(redact(`t=${TOKEN}\n`, [TOKEN])).toBe(`t=${REDACTED}\n`);
    expect(redact(`p=${payload} s=${signature} h=${header}`, [TOKEN])).toBe(`p=${REDACTED} s=${REDACTED} h=${REDACTED}`);
    for (let i = 0; i + TOKEN_SLICE_LENGTH <= TOKEN.length; i += 7) {
      const slice = TOKEN.slice(i, i + TOKEN_SLICE_LENGTH);
      expect(redact(`[${slice}]`, [TOKEN])).toBe(`[${REDACTED}]`);
    }
    expect(redact(`a ${TOKEN.slice(10, 75)} b`, [TOKEN])).toBe(`a ${REDACTED} b`);
    expect(redact(Buffer.from(TOKEN).toString('base64'), [TOKEN])).toBe(REDACTED);
  });

  it('leaves a 15-character piece, other text, and ordinary secrets as they were', () => {
    const short = TOKEN.slice(100, 115);
    expect(redact(`x ${short} y`, [TOKEN])).toBe(`x ${short} y`);
    expect(redact('an unrelated log line with words_and-dots.in.it 0123456789abcdef', [TOKEN])).toBe('an unrelated log line with words_and-dots.in.it 0123456789abcdef');
    // a password is hidden whole, never by its slices
    const password = 'correct-horse-battery-staple-0123';
    expect(redact(`pw ${password.slice(0, 20)}`, [password])).toBe(`pw ${password.slice(0, 20)}`);
  });

  it('gives the same when the output is streamed and cut anywhere', () => {
    const text = `token: ${TOKEN}\nslice: ${TOKEN.slice(40, 60)}\nsig: ${TOKEN.split('.')[2]}\nend\n`;
    const whole = redact(text, [TOKEN]);
    expect(whole).toBe(`token: ${REDACTED}\nslice: ${REDACTED}\nsig: ${REDACTED}\nend\n`);
    for (let cut = 1; cut < text.length; cut++) expect(streamed(text, [TOKEN], [cut])).toBe(whole);
    expect(streamed(text, [TOKEN], [20, 21, 90, 200, 201, 260])).toBe(whole);
  });
});
