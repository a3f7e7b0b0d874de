import { beforeAll, beforeEach } from 'vitest';

/**
 * `beforeAll(setup)` for suites that need a real Gerrit, except that a failed setup makes every
 * test of the suite FAIL with the setup's error. vitest marks the tests of a suite whose
 * beforeAll throws as skipped, and a suite that cannot boot Gerrit (no Java 17, jars not
 * fetchable, a port taken) must never look skipped in CI.
 */
export function beforeAllOrFailEachTest(what: string, setup: () => Promise<void>, timeoutMs = 300_000): void {
  let failure: Error | undefined;
  beforeAll(async () => {
    try {
      await setup();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      failure = new Error(`${what} could not start, so this test cannot run: ${reason}`, { cause: error });
      console.error(`[${what}] setup failed:`, error);
    }
  }, timeoutMs);
  beforeEach(() => {
    if (failure !== undefined) throw failure;
  });
}
