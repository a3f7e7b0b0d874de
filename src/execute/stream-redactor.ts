import { StringDecoder } from 'node:string_decoder';
import { redact, secretForms } from './redact.js';

/**
 * Redacts output that arrives in pieces, for storing it as it comes: a secret split across two
 * chunks is hidden as surely as one inside a chunk. It lets out everything except an end that
 * could be the start of a secret (or of one of its encoded forms), which waits for the next
 * chunk, and never cuts through a form that is already there whole. Output without secrets in
 * it goes out at once. What it lets out, joined, is what `redact` makes of the whole output.
 */
export class StreamRedactor {
  readonly #secrets: readonly string[];
  readonly #forms: readonly string[];
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(secrets: readonly string[]) {
    this.#secrets = secrets;
    this.#forms = [...new Set(secrets.flatMap(secretForms))];
  }

  /** Takes the next bytes of output; returns the redacted text that is safe to let out now (maybe ''). */
  push(chunk: Buffer | string): string {
    this.#pending += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const cut = this.#safeCut(this.#pending.length - this.#unfinishedForm());
    if (cut <= 0) return '';
    const out = this.#pending.slice(0, cut);
    this.#pending = this.#pending.slice(cut);
    return redact(out, this.#secrets);
  }

  /** The output ended: everything still held back, redacted. */
  end(): string {
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    return redact(rest, this.#secrets);
  }

  /** The length of the longest end of the pending text that a form begins with (0: none). */
  #unfinishedForm(): number {
    const text = this.#pending;
    let longest = 0;
    for (const form of this.#forms) {
      for (let k = Math.min(form.length - 1, text.length); k > longest; k--) {
        if (text.endsWith(form.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }

  /** Moves `cut` back to the start of any form that spans it, until none does. */
  #safeCut(cut: number): number {
    let at = cut;
    for (let moved = true; moved && at > 0; ) {
      moved = false;
      for (const form of this.#forms) {
        // a form that is there whole and starts within its length before `at` spans the cut
        const from = Math.max(0, at - form.length + 1);
        const found = this.#pending.indexOf(form, from);
        if (found !== -1 && found < at) {
          at = found;
          moved = true;
        }
      }
    }
    return at;
  }
}
