/** One framed line of `gerrit stream-events` output (or of any newline-delimited stream). */
export type SplitLine =
  | { readonly kind: 'line'; readonly text: string }
  /** A line longer than `maxLineBytes`: only its size and first characters are kept. */
  | { readonly kind: 'oversize'; readonly bytes: number; readonly head: string };

export interface LineSplitterOptions {
  /** Longest line (in bytes, without the newline) that is buffered and decoded. Default 32 MiB. */
  readonly maxLineBytes?: number;
}

export const DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024;

/** Characters of an oversize line kept in its `head`. */
const HEAD_CHARS = 200;
/** Bytes kept to decode the head: a UTF-8 character is at most 4 bytes. */
const HEAD_BYTES = HEAD_CHARS * 4;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Splits a byte stream into newline-terminated lines.
 *
 * Chunks are kept as Buffers and only whole lines are decoded, so a multi-byte UTF-8 character
 * split across chunks survives. Each line is concatenated once, when its newline arrives, so
 * large events (Gerrit sends hundreds of KB, see JENKINS-44568) cost linear time.
 *
 * ```ts
 * const splitter = new LineSplitter();
 * for (const line of splitter.push(chunk)) handle(line);
 * ```
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  /** Pieces of the current, unterminated line (copies: the caller may reuse its chunks). */
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** Set while the current line is over the limit: its bytes are counted and dropped. */
  #oversize: { head: Buffer; bytes: number } | undefined;

  constructor(options: LineSplitterOptions = {}) {
    const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${String(max)}`);
    }
    this.#maxLineBytes = max;
  }

  /** Bytes held for the current unterminated line (for tests and diagnostics). */
  get pendingBytes(): number {
    return this.#oversize === undefined ? this.#partBytes : this.#oversize.head.length;
  }

  /** Feeds one chunk and returns the lines it completed, in order. */
  push(chunk: Buffer): SplitLine[] {
    const out: SplitLine[] = [];
    let start = 0;
    let newline = chunk.indexOf(NEWLINE, start);
    while (newline !== -1) {
      this.#append(chunk.subarray(start, newline), false);
      this.#finishLine(out);
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) this.#append(chunk.subarray(start), true);
    return out;
  }

  /** Flushes an unterminated last line, if any, and resets the splitter. */
  end(): SplitLine[] {
    const out: SplitLine[] = [];
    this.#finishLine(out);
    return out;
  }

  /** Adds bytes to the current line; `keep` copies them because they outlive this push. */
  #append(bytes: Buffer, keep: boolean): void {
    if (bytes.length === 0) return;
    if (this.#oversize !== undefined) {
      this.#oversize.bytes += bytes.length;
      return;
    }
    if (this.#partBytes + bytes.length > this.#maxLineBytes) {
      // stop buffering now: a line without a newline must not grow memory without bound
      const head = Buffer.concat([...this.#parts, bytes.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES);
      this.#oversize = { head: Buffer.from(head), bytes: this.#partBytes + bytes.length };
      this.#parts = [];
      this.#partBytes = 0;
      return;
    }
    this.#parts.push(keep ? Buffer.from(bytes) : bytes);
    this.#partBytes += bytes.length;
  }

  #finishLine(out: SplitLine[]): void {
    if (this.#oversize !== undefined) {
      const { head, bytes } = this.#oversize;
      this.#oversize = undefined;
      out.push({ kind: 'oversize', bytes, head: firstChars(head.toString('utf8'), HEAD_CHARS) });
      return;
    }
    if (this.#partBytes === 0) return;
    const parts = this.#parts;
    let line = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.#partBytes);
    this.#parts = [];
    this.#partBytes = 0;
    if (line[line.length - 1] === CARRIAGE_RETURN) line = line.subarray(0, line.length - 1);
    if (isBlank(line)) return;
    out.push({ kind: 'line', text: line.toString('utf8') });
  }
}

/** True for a line of only spaces and tabs; checks bytes so a large line is not decoded twice. */
function isBlank(line: Buffer): boolean {
  for (const byte of line) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
  }
  return true;
}

/** The first `count` characters, without splitting a surrogate pair. */
function firstChars(text: string, count: number): string {
  return Array.from(text).slice(0, count).join('');
}
