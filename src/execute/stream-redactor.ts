import { StringDecoder } from 'node:string_decoder';
import { redact, secretForms } from './redact.js';

/**
 * Redacts output that arrives in pieces, for storing it as it comes: a secret split across two
 * chunks is hidden as surely as one inside a chunk. It holds back the last few characters (one
 * less than the longest form of a secret, so a form cut at the end is complete before it is
 * let out) and never lets out text that begins a form whose end is held back.
 * What it lets out, joined, is what `redact` makes of the whole output.
 */
export class StreamRedactor {
  readonly #secrets: readonly string[];
  readonly #forms: readonly string[];
  readonly #holdBack: number;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(secrets: readonly string[]) {
    this.#secrets = secrets;
    this.#forms = [...new Set(secrets.flatMap(secretForms))];
    this.#holdBack = Math.max(0, ...this.#forms.map((f) => f.length - 1));
  }

  /** Takes the next bytes of output; returns the redacted text that is safe to let out now (maybe ''). */
  push(chunk: Buffer | string): string {
    this.#pending += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const cut = this.#safeCut(this.#pending.length - this.#holdBack);
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

  /** Moves `cut` back to the start of any form that spans it, until none does. */
  #safeCut(cut: number): number {
    let at = cut;
    for (let moved = true; moved && at > 0; ) {
      moved = false;
      for (const form of this.#forms) {
        // a form starting within form.length - 1 before `at` that is there whole spans the cut
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
