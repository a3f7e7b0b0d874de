import { describe, expect, it } from 'vitest';
import { redact } from '../../src/execute/redact.js';
import { StreamRedactor } from '../../src/execute/stream-redactor.js';

/** Feeds `text` to a redactor in pieces cut at `cuts` (byte offsets), as a pipe might deliver it. */
function streamed(text: string, secrets: readonly string[], cuts: readonly number[]): { out: string; pieces: string[] } {
  const r = new StreamRedactor(secrets);
  const bytes = Buffer.from(text);
  const pieces: string[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    pieces.push(r.push(bytes.subarray(from, cut)));
    from = cut;
  }
  pieces.push(r.end());
  return { out: pieces.join(''), pieces };
}

const SECRET = 's3cr3t-Deploy-Token';
const cases: Array<{ name: string; text: string; secrets: string[] }> = [
  { name: 'a secret as written', text: `login with ${SECRET} now\n`, secrets: [SECRET] },
  { name: 'a secret twice, and base64', text: `${SECRET}${SECRET}\n${Buffer.from(SECRET).toString('base64')}\n`, secrets: [SECRET] },
  { name: 'two secrets, one inside the other', text: `a=${SECRET}-extra b=${SECRET}\n`, secrets: [SECRET, `${SECRET}-extra`] },
  { name: 'no secrets', text: 'plain output\nmore\n', secrets: [] },
  { name: 'multi-byte characters around a secret', text: `héllo ✓ ${SECRET} ✓ wörld\n`, secrets: [SECRET] },
];

describe('StreamRedactor: output redacted as it comes', () => {
  it.each(cases)('$name: every way of cutting the output gives what redacting it whole gives', ({ text, secrets }) => {
    const whole = redact(text, secrets);
    const length = Buffer.byteLength(text);
    for (let a = 0; a <= length; a++) {
      for (const b of [a, Math.min(length, a + 1), Math.min(length, a + 7), length]) {
        const { out, pieces } = streamed(text, secrets, [a, b]);
        expect(out, `cut at ${a} and ${b}`).toBe(whole);
        // no piece let out ever holds a secret or the start of one
        for (const piece of pieces) for (const s of secrets) expect(piece).not.toContain(s.slice(0, 6));
      }
    }
  });

  it('lets out text without secrets at once', () => {
    const r = new StreamRedactor([]);
    expect(r.push(Buffer.from('step 1 of 3\n'))).toBe('step 1 of 3\n');
  });

  it('holds back only an end that could begin a secret, until the next chunk says', () => {
    const r = new StreamRedactor([SECRET]);
    expect(r.push(Buffer.from('progress: 10%\n'))).toBe('progress: 10%\n');
    expect(r.push(Buffer.from('key s3cr'))).toBe('key ');
    expect(r.push(Buffer.from('atch\n'))).toBe('s3cratch\n');
    expect(r.push(Buffer.from('key s3cr3t-Dep'))).toBe('key ');
    expect(r.push(Buffer.from('loy-Token!\n'))).toBe('[redacted]!\n');
    expect(r.end()).toBe('');
  });
});
