import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { RollgateError } from '../errors.js';

/** The recording cannot be read (any more): said in words, exit 1. */
export class RecordingReadError extends RollgateError {
  override readonly code = 'recording';
  constructor(file: string, err: unknown) {
    super(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The file's sha256 and size, read in chunks: a recording may be far larger than memory. */
export async function digestOfFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch (err) {
    throw new RecordingReadError(file, err);
  }
  return { sha256: hash.digest('hex'), bytes };
}

const NEWLINE = 0x0a;

/**
 * The file's lines, streamed: split at "\n" only, one "\r" before it removed, each decoded as
 * UTF-8, and no last empty line after a final newline; the lines `readFileSync(file)
 * .toString('utf8').split('\n')` gives, without holding the file. (node:readline would also
 * split at a lone "\r", renumbering the lines a replay reports.) Each chunk read is passed to
 * `onChunk` first, to hash it or count it.
 */
export async function* recordingLines(file: string, onChunk: (chunk: Buffer) => void): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  const stream = createReadStream(file) as AsyncIterable<Buffer>;
  const chunks = stream[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (err) {
      throw new RecordingReadError(file, err);
    }
    if (next.done) break;
    const chunk = next.value;
    onChunk(chunk);
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      // a newline byte never occurs inside a multi-byte UTF-8 character, so lines decode on their own
      yield text([...pending, chunk.subarray(start, end)]);
      pending = [];
      start = end + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield text(pending);
}

function text(parts: readonly Buffer[]): string {
  return (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8').replace(/\r$/, '');
}
