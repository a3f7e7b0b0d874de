import { describe, expect, it } from 'vitest';
import { contentAroundId, entryHash, type AuditContent } from '../../src/audit/audit-chain.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';

const base: AuditContent = { id: 7, at: '2026-12-07T01:00:00.000Z', kind: 'step-finished', actor: 'worker-1', rolloutId: 3, project: 'payments/api', changeNumber: 42, summary: 'step "deploy" finished', data: { step: 'deploy' } };

describe('the audit content cut around its id (the database appends with the id it gives)', () => {
  it.each<[string, Partial<AuditContent>]>([
    ['plain', {}],
    ['an "id" inside the data and the summary', { data: { id: 99, nested: { id: 'x' } }, summary: '"id":7 is not the id' }],
    ['nulls', { rolloutId: null, project: null, changeNumber: null, data: null }],
    ['text that needs escaping', { actor: 'a\\b"c', summary: 'line\nbreak 🚀 ключ' }],
    ['a large id', { id: 123456789012 }],
  ])('%s: before + id + after is the canonical JSON the hash covers', (_, patch) => {
    const c = { ...base, ...patch };
    const { id, ...rest } = c;
    const { before, after } = contentAroundId(rest);
    expect(`${before}${id}${after}`).toBe(canonicalJson({ ...c }));
    expect(entryHash('0'.repeat(64), c)).toMatch(/^[0-9a-f]{64}$/);
  });
});
