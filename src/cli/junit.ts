/** One test for a JUnit report: `failure` when it ran and failed, `error` when it could not run. */
export interface JunitCase {
  readonly suite: string;
  readonly name: string;
  readonly failure?: { readonly message: string; readonly details: string };
  readonly error?: { readonly message: string };
}

/**
 * A JUnit XML report (the common form CI systems read: Jenkins, GitLab, GitHub actions), one
 * `<testsuite>` per suite in the order first seen.
 */
export function junitXml(name: string, cases: readonly JunitCase[]): string {
  const suites = new Map<string, JunitCase[]>();
  for (const c of cases) suites.set(c.suite, [...(suites.get(c.suite) ?? []), c]);
  const count = (list: readonly JunitCase[]) =>
    `tests="${list.length}" failures="${list.filter((c) => c.failure).length}" errors="${list.filter((c) => c.error).length}"`;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="${xml(name)}" ${count(cases)}>`];
  for (const [suite, list] of suites) {
    out.push(`  <testsuite name="${xml(suite)}" ${count(list)}>`);
    for (const c of list) {
      const open = `    <testcase classname="${xml(suite)}" name="${xml(c.name)}"`;
      if (c.failure) out.push(`${open}>`, `      <failure message="${xml(c.failure.message)}">${xml(c.failure.details)}</failure>`, '    </testcase>');
      else if (c.error) out.push(`${open}>`, `      <error message="${xml(c.error.message)}"/>`, '    </testcase>');
      else out.push(`${open}/>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** Escaped for text and attribute values; characters XML 1.0 cannot hold at all are dropped. */
function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;');
}
