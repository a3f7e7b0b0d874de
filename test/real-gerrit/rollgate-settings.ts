import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RealGerrit } from './gerrit-server.js';

/**
 * The Gerrit settings rollgate needs to reach a throwaway Gerrit, as the environment variables an
 * operator would set: the service account's REST password (written to a file in `dir`, as in
 * production) and its SSH key, with the host keys pinned.
 */
export function gerritSettings(gerrit: RealGerrit, dir: string): Record<string, string> {
  const passwordFile = path.join(dir, 'gerrit-http-password');
  writeFileSync(passwordFile, gerrit.service.httpPassword, { mode: 0o600 });
  return {
    GERRIT_URL: gerrit.httpUrl,
    GERRIT_HTTP_USER: gerrit.service.username,
    GERRIT_HTTP_PASSWORD_FILE: passwordFile,
    GERRIT_SSH_HOST: gerrit.sshHost,
    GERRIT_SSH_PORT: String(gerrit.sshPort),
    GERRIT_SSH_USER: gerrit.service.username,
    GERRIT_SSH_KEY_FILE: gerrit.service.privateKeyPath,
    GERRIT_SSH_HOST_KEY: gerrit.hostKeyFingerprints.join(','),
  };
}
