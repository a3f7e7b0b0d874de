import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RunningService } from '../../src/service/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { declaredNames, sampleNames, scrape } from './metrics-text.js';

const RULES_DIR = path.resolve('packaging/prometheus');
const RULES = path.join(RULES_DIR, 'rollgate-alerts.yml');

/** promtool's exit code and output; fails (never skips) when promtool is not installed. */
function promtool(args: readonly string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: RULES_DIR, encoding: 'utf8' });
  if (run.error) throw new Error(`promtool did not run (${run.error.message}): install it with \`apt-get install prometheus\` (.ci/run does)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly annotations?: { readonly summary?: string; readonly description?: string };
}

function rules(): Rule[] {
  const file = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return file.groups.flatMap((g) => g.rules);
}

describe('the Prometheus alert rules shipped in packaging/prometheus', () => {
  it('pass `promtool check rules`', () => {
    const { status, output } = promtool(['check', 'rules', RULES]);
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });

  it('pass their unit tests (`promtool test rules`): they fire on the failure, not on a healthy service', () => {
    const { status, output } = promtool(['test', 'rules', 'rollgate-alerts.test.yml']);
    expect(status, output).toBe(0);
  });

  it('each say what happened and what to do', () => {
    for (const rule of rules()) {
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description?.length ?? 0, rule.alert).toBeGreaterThan(80);
    }
  });

  describe('use only metrics rollgate serves', () => {
    let database: TestDatabase;
    let service: RunningService;

    beforeAll(async () => {
      database = await createTestDatabase('pglite');
      ({ service } = await startServiceOnDoubles({ name: 'alert-rules', database }));
    });
    afterAll(async () => {
      await service?.stop();
      await database?.drop();
    });

    it('every rollgate_* name in the rules is in GET /metrics, with a series before any event', async () => {
      const text = await scrape(service.url);
      const used = [...new Set(rules().flatMap((r) => r.expr.match(/\brollgate_[a-z_]+/g) ?? []))];
      expect(used.length).toBeGreaterThan(10);
      const declared = declaredNames(text);
      expect(used.filter((name) => !declared.has(name))).toEqual([]);
      // its label is Gerrit's HTTP status, unknown until a failure; its rule also reads the outbox's failed count
      const served = sampleNames(text);
      expect(used.filter((name) => !served.has(name))).toEqual(['rollgate_outbox_failures_total']);
    });
  });
});
