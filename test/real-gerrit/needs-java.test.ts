import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRealGerrit } from './gerrit-server.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Without Java the real-Gerrit suites must fail saying what is missing (and never skip). The Java
 * check is the harness's first step, so these tests boot nothing.
 */
describe('the real-Gerrit harness without Java', () => {
  const saved = { JAVA_HOME: process.env.JAVA_HOME, PATH: process.env.PATH };
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('fails with "needs Java 17" when JAVA_HOME points nowhere', async () => {
    process.env.JAVA_HOME = path.join(tmpdir(), 'no-such-java-home');
    await expect(startRealGerrit({ log: () => undefined })).rejects.toThrow(
      /^real Gerrit needs Java 17: `.*no-such-java-home\/bin\/java -version` failed \(JAVA_HOME is .*no-such-java-home\)/,
    );
  });

  it('fails with "needs Java 17" when there is no java on PATH', async () => {
    delete process.env.JAVA_HOME;
    process.env.PATH = tempDir('rollgate-empty-path-');
    await expect(startRealGerrit({ log: () => undefined })).rejects.toThrow(
      'real Gerrit needs Java 17: `java -version` failed (no java on PATH and JAVA_HOME is not set)',
    );
  });
});
