import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from './canonical-json.js';

/** One row of the audit trail as the API and `rollgate audit export` show it. */
export interface AuditEntry extends AuditContent {
  /** The previous entry's `hash`; `GENESIS_HASH` for entry 1. */
  readonly prevHash: string;
  /** sha256 (hex) of `prevHash`, a newline, and the canonical JSON of the content. */
  readonly hash: string;
}

/** What an entry's hash covers: everything but the two hashes. */
export interface AuditContent {
  readonly id: number;
  /** ISO 8601 with milliseconds, UTC. */
  readonly at: string;
  readonly kind: string;
  readonly actor: string;
  readonly rolloutId: number | null;
  readonly project: string | null;
  readonly changeNumber: number | null;
  readonly summary: string;
  readonly data: JsonValue;
}

/** Where a chain stops being trustworthy, and why. */
export interface ChainBreak {
  readonly id: number;
  /** Absent when the row is missing. */
  readonly kind?: string;
  readonly at?: string;
  readonly reason: 'content-changed' | 'prev-hash-mismatch' | 'row-missing' | 'not-as-recorded';
  /** In words, e.g. "content does not match its hash". */
  readonly message: string;
}

/** A row's id and hash as recorded outside the database earlier (the head `audit verify` printed then). */
export interface RecordedHead {
  readonly id: number;
  readonly hash: string;
  /** Where it was recorded, for messages, e.g. "in a review message on payments/api~101". */
  readonly source?: string;
}

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The canonical JSON of an entry's content cut around its id: `before + id + after` is
 * `canonicalJson(content)`. The id is the one thing only the database knows when it appends (the
 * row after the newest), so the hash can be taken there, in the statement that appends.
 */
export function contentAroundId(c: Omit<AuditContent, 'id'>): { readonly before: string; readonly after: string } {
  // canonical order sorts the keys: these four come before "id", the other four after it
  const head = canonicalJson({ actor: c.actor, at: c.at, changeNumber: c.changeNumber, data: c.data });
  const tail = canonicalJson({ kind: c.kind, project: c.project, rolloutId: c.rolloutId, summary: c.summary });
  return { before: `${head.slice(0, -1)},"id":`, after: `,${tail.slice(1)}` };
}

/** The hash of an entry with this content after `prevHash`. */
export function entryHash(prevHash: string, c: AuditContent): string {
  const content: JsonValue = { id: c.id, at: c.at, kind: c.kind, actor: c.actor, rolloutId: c.rolloutId, project: c.project, changeNumber: c.changeNumber, summary: c.summary, data: c.data };
  return createHash('sha256').update(`${prevHash}\n${canonicalJson(content)}`).digest('hex');
}

/**
 * Checks entries one at a time in id order, keeping only the last id and hash, so a chain of any
 * length is checked in constant memory. Ids start at 1 (or after `from`) and have no gaps.
 */
export class ChainChecker {
  #lastId: number;
  #lastHash: string;
  #count = 0;

  /** `from`: the entry an export starting after it continues from (its id and hash), trusted as given. */
  constructor(from?: RecordedHead) {
    this.#lastId = from?.id ?? 0;
    this.#lastHash = from?.hash ?? GENESIS_HASH;
  }

  /** Entries checked and found intact. */
  get count(): number {
    return this.#count;
  }

  /** The last intact entry, or undefined before the first. */
  get head(): RecordedHead | undefined {
    return this.#count === 0 ? undefined : { id: this.#lastId, hash: this.#lastHash };
  }

  /** The break this entry shows, or undefined when it continues the chain. */
  check(e: AuditEntry): ChainBreak | undefined {
    const expected = this.#lastId + 1;
    // ids come in ascending order, so a smaller one is only possible for the first row read
    if (e.id < expected) {
      return { id: e.id, kind: e.kind, at: e.at, reason: 'row-missing', message: `row #${e.id} has an id before the first row (#${expected}): it was put there outside the chain` };
    }
    if (e.id !== expected) {
      const gap = e.id - expected === 1 ? `row #${expected}` : `rows #${expected} to #${e.id - 1}`;
      return { id: expected, reason: 'row-missing', message: `missing: the rows go from #${this.#lastId} to #${e.id} (${gap} deleted)` };
    }
    const where = { id: e.id, kind: e.kind, at: e.at };
    if (entryHash(e.prevHash, e) !== e.hash) return { ...where, reason: 'content-changed', message: 'content does not match its hash (changed after it was written)' };
    if (e.prevHash !== this.#lastHash) {
      const before = this.#lastId === 0 ? 'the start of the chain' : `the hash of row #${this.#lastId}`;
      return { ...where, reason: 'prev-hash-mismatch', message: `prev_hash does not match ${before} (a row before it was replaced)` };
    }
    this.#lastId = e.id;
    this.#lastHash = e.hash;
    this.#count++;
    return undefined;
  }
}
