import { closeSync, createReadStream, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

const BLOCK = 512;

/** One ustar header: the entry's path inside the archive, its kind and its size. */
interface TarEntry {
  readonly name: string;
  readonly kind: 'file' | 'directory';
  readonly size: number;
}

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** The entry a header block describes, or undefined for the all-zero block that ends an archive. */
function parseHeader(header: Buffer, archive: string): TarEntry | undefined {
  if (header.every((byte) => byte === 0)) return undefined;
  // the header's checksum: the sum of its bytes with the checksum field itself counted as spaces
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  if (Number.parseInt(field(header, 148, 8).trim(), 8) !== sum) throw new Error(`${archive}: a header's checksum does not match (the archive is damaged)`);
  const prefix = field(header, 345, 131);
  const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
  const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
  const type = String.fromCharCode(header[156]!);
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${archive}: entry ${name} has an unreadable size`);
  if (type === '0' || type === '\0') return { name, kind: 'file', size };
  if (type === '5') return { name, kind: 'directory', size: 0 };
  throw new Error(`${archive}: entry ${name} is of tar type ${JSON.stringify(type)}; only files and directories are expected`);
}

/** Where an entry goes under `into`; an entry that would land outside it is refused. */
function destination(into: string, name: string, archive: string): string {
  const target = path.resolve(into, name.replace(/^\/+/, ''));
  if (target !== into && !target.startsWith(`${into}${path.sep}`)) throw new Error(`${archive}: entry ${name} points outside ${into}`);
  return target;
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
}

/**
 * Unpacks a gzip-compressed ustar archive of plain files and directories into `into`, streaming:
 * memory stays at a chunk or two whatever the archive's size. Files are created with the default
 * mode; existing ones are overwritten. The entries named in `last` (small marker files) are kept
 * back and written only after every other entry, so a reader that takes their presence to mean
 * "complete" never sees a half-unpacked folder as complete.
 */
export async function extractTarGz(archive: string, into: string, options: { readonly last?: readonly string[] } = {}): Promise<void> {
  const root = path.resolve(into);
  const last = new Set(options.last ?? []);
  const keptBack: Array<{ target: string; chunks: Buffer[] }> = [];
  let header = Buffer.alloc(0);
  // the entry whose content is being read, and the padding after it up to the next block
  let body: { fd?: number; chunks?: Buffer[]; left: number } | undefined;
  let padding = 0;
  let ended = false;

  const consume = (chunk: Buffer): void => {
    let rest = chunk;
    while (rest.length > 0 && !ended) {
      if (body) {
        const part = rest.subarray(0, body.left);
        if (body.fd !== undefined) writeAll(body.fd, part);
        else body.chunks!.push(Buffer.from(part));
        body.left -= part.length;
        rest = rest.subarray(part.length);
        if (body.left === 0) {
          if (body.fd !== undefined) closeSync(body.fd);
          body = undefined;
        }
      } else if (padding > 0) {
        const skipped = Math.min(padding, rest.length);
        padding -= skipped;
        rest = rest.subarray(skipped);
      } else {
        const needed = BLOCK - header.length;
        header = Buffer.concat([header, rest.subarray(0, needed)]);
        rest = rest.subarray(needed);
        if (header.length < BLOCK) return;
        const entry = parseHeader(header, archive);
        header = Buffer.alloc(0);
        if (!entry) {
          ended = true;
          return;
        }
        const target = destination(root, entry.name, archive);
        if (entry.kind === 'directory') {
          mkdirSync(target, { recursive: true });
          continue;
        }
        mkdirSync(path.dirname(target), { recursive: true });
        const relative = path.relative(root, target).split(path.sep).join('/');
        if (last.has(relative)) {
          const kept = { target, chunks: [] as Buffer[] };
          keptBack.push(kept);
          body = { chunks: kept.chunks, left: entry.size };
        } else {
          body = { fd: openSync(target, 'w'), left: entry.size };
        }
        padding = (BLOCK - (entry.size % BLOCK)) % BLOCK;
        if (entry.size === 0) {
          if (body.fd !== undefined) closeSync(body.fd);
          body = undefined;
        }
      }
    }
  };

  try {
    await pipeline(createReadStream(archive), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) consume(chunk);
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(message.startsWith(archive) ? message : `${archive}: ${message}`, { cause: err });
  } finally {
    if (body?.fd !== undefined) closeSync(body.fd);
  }
  if (!ended || body) throw new Error(`${archive}: the archive ends in the middle of an entry`);
  for (const kept of keptBack) writeFileSync(kept.target, Buffer.concat(kept.chunks));
}
