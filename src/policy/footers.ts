/**
 * Reads Git trailers ("footers") from a commit message: the `Key: value` lines of its last
 * paragraph, as Gerrit does for Change-Id. A key may appear more than once.
 */
export function parseFooters(commitMessage: string): ReadonlyMap<string, readonly string[]> {
  const paragraphs = commitMessage.replace(/\r\n/g, '\n').trim().split(/\n\s*\n/);
  const footers = new Map<string, string[]>();
  if (paragraphs.length < 2) return footers;
  for (const line of paragraphs[paragraphs.length - 1]!.split('\n')) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    footers.set(key, [...(footers.get(key) ?? []), m[2]!.trim()]);
  }
  return footers;
}

/** The first non-empty value of a footer, looked up case-insensitively. */
export function footer(footers: ReadonlyMap<string, readonly string[]>, key: string): string | undefined {
  return footers.get(key.toLowerCase())?.find((v) => v !== '');
}

export const JUSTIFICATION_FOOTER = 'Rollout-Justification';
export const RULE_FOOTER = 'Rollout';
