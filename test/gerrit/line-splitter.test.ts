import { describe, expect, it } from 'vitest';
import { LineSplitter, type LineSplitterOptions, type SplitLine } from '../../src/gerrit/line-splitter.js';

/** Feeds every chunk, then ends, and returns all lines in order. */
function split(chunks: readonly (string | Buffer)[], options?: LineSplitterOptions): SplitLine[] {
  const splitter = new LineSplitter(options);
  const out: SplitLine[] = [];
  for (const chunk of chunks) out.push(...splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  out.push(...splitter.end());
  return out;
}

const line = (text: string): SplitLine => ({ kind: 'line', text });

/** Every byte of `text` as its own chunk. */
function bytewise(text: string): Buffer[] {
  return [...Buffer.from(text)].map((byte) => Buffer.from([byte]));
}

describe('LineSplitter.push', () => {
  const table: ReadonlyArray<{ name: string; chunks: readonly (string | Buffer)[]; expected: SplitLine[] }> = [
    { name: 'one event in one chunk', chunks: ['{"type":"change-merged"}\n'], expected: [line('{"type":"change-merged"}')] },
    { name: 'several events in one chunk', chunks: ['{"a":1}\n{"b":2}\n{"c":3}\n'], expected: [line('{"a":1}'), line('{"b":2}'), line('{"c":3}')] },
    { name: 'a line split across chunks', chunks: ['{"a"', ':1}\n{"b', '":2}', '\n'], expected: [line('{"a":1}'), line('{"b":2}')] },
    { name: 'one byte per chunk', chunks: bytewise('ab\ncd\n'), expected: [line('ab'), line('cd')] },
    { name: 'CRLF endings', chunks: ['a\r\nb\r\n'], expected: [line('a'), line('b')] },
    { name: 'CR and LF in different chunks', chunks: ['a\r', '\nb\r', '\n'], expected: [line('a'), line('b')] },
    { name: 'blank and whitespace-only lines are ignored', chunks: ['\n\n a\n', '\r\n', ' \t \n', 'b\n'], expected: [line(' a'), line('b')] },
    { name: 'empty chunks', chunks: ['', 'a\n', ''], expected: [line('a')] },
    { name: 'an unterminated last line is flushed by end()', chunks: ['a\nb'], expected: [line('a'), line('b')] },
    { name: 'a lone CR is kept inside a line', chunks: ['a\rb\n'], expected: [line('a\rb')] },
  ];

  it.each(table)('$name', ({ chunks, expected }) => {
    expect(split(chunks)).toEqual(expected);
  });

  it.each([
    ['2-byte é', 'é'],
    ['3-byte €', '€'],
    ['4-byte 😀', '😀'],
  ])('keeps a %s split at every byte boundary', (_name, char) => {
    const text = `{"subject":"a${char}b${char}"}`;
    const bytes = Buffer.from(`${text}\n`);
    for (let cut = 1; cut < bytes.length; cut += 1) {
      expect(split([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual([line(text)]);
    }
    expect(split(bytewise(`${text}\n`))).toEqual([line(text)]);
  });

  it('passes a 4 MiB line through whole, in 64 KiB chunks', () => {
    const text = JSON.stringify({ type: 'comment-added', comment: 'x'.repeat(4 * 1024 * 1024) });
    const bytes = Buffer.from(`${text}\n{"after":true}\n`);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 64 * 1024) chunks.push(bytes.subarray(at, at + 64 * 1024));
    const lines = split(chunks);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual(line(text));
    expect(lines[1]).toEqual(line('{"after":true}'));
  });

  it('copies what it keeps, so the caller may reuse a chunk buffer', () => {
    const splitter = new LineSplitter();
    const chunk = Buffer.from('{"a":');
    expect(splitter.push(chunk)).toEqual([]);
    chunk.fill(0x7a);
    expect(splitter.push(Buffer.from('1}\n'))).toEqual([line('{"a":1}')]);
  });
});

describe('LineSplitter oversize lines', () => {
  it('accepts a line of exactly maxLineBytes and reports one byte more as oversize', () => {
    expect(split(['abcde\n'], { maxLineBytes: 5 })).toEqual([line('abcde')]);
    expect(split(['abcdef\n'], { maxLineBytes: 5 })).toEqual([{ kind: 'oversize', bytes: 6, head: 'abcdef' }]);
  });

  it('reports the whole size, discards the rest up to the newline, and goes on', () => {
    const long = 'y'.repeat(1000);
    const lines = split([`{"a":1}\n${long.slice(0, 300)}`, long.slice(300, 700), `${long.slice(700)}\n{"b":2}\n`], {
      maxLineBytes: 100,
    });
    expect(lines).toEqual([
      line('{"a":1}'),
      { kind: 'oversize', bytes: 1000, head: 'y'.repeat(200) },
      line('{"b":2}'),
    ]);
  });

  it('does not buffer an endless line', () => {
    const splitter = new LineSplitter({ maxLineBytes: 1024 });
    for (let i = 0; i < 1000; i += 1) expect(splitter.push(Buffer.alloc(4096, 0x61))).toEqual([]);
    expect(splitter.pendingBytes).toBeLessThanOrEqual(1024);
    expect(splitter.push(Buffer.from('\nok\n'))).toEqual([
      { kind: 'oversize', bytes: 4096 * 1000, head: 'a'.repeat(200) },
      line('ok'),
    ]);
  });

  it('flushes an unterminated oversize line on end()', () => {
    expect(split(['0123456789'], { maxLineBytes: 4 })).toEqual([{ kind: 'oversize', bytes: 10, head: '0123456789' }]);
  });

  it('cuts the head at 200 characters without splitting a surrogate pair', () => {
    const [only] = split([`${'😀'.repeat(300)}\n`], { maxLineBytes: 100 });
    expect(only).toEqual({ kind: 'oversize', bytes: 1200, head: '😀'.repeat(200) });
  });

  it('rejects a non-positive limit', () => {
    expect(() => new LineSplitter({ maxLineBytes: 0 })).toThrow(/maxLineBytes/);
  });
});
