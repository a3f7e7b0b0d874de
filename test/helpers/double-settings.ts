import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RestGerritDouble } from './rest-gerrit-double.js';
import type { SshGerritDouble } from './ssh-gerrit-double.js';

/**
 * The Gerrit settings that point rollgate at the in-process doubles, as the environment an
 * operator would write: the HTTP password and the SSH key go to files in `dir` (mode 0600), the
 * double's host key is pinned.
 */
export function doubleSettings(dir: string, doubles: { readonly ssh?: SshGerritDouble; readonly rest?: RestGerritDouble }): Record<string, string> {
  const settings: Record<string, string> = {};
  if (doubles.rest) {
    writeFileSync(path.join(dir, 'http-password'), `${doubles.rest.password}\n`, { mode: 0o600 });
    Object.assign(settings, { GERRIT_URL: doubles.rest.url, GERRIT_HTTP_USER: doubles.rest.user, GERRIT_HTTP_PASSWORD_FILE: path.join(dir, 'http-password') });
  }
  if (doubles.ssh) {
    writeFileSync(path.join(dir, 'id_ed25519'), doubles.ssh.clientPrivateKey, { mode: 0o600 });
    Object.assign(settings, {
      GERRIT_SSH_HOST: doubles.ssh.host,
      GERRIT_SSH_PORT: String(doubles.ssh.port),
      GERRIT_SSH_USER: doubles.ssh.username,
      GERRIT_SSH_KEY_FILE: path.join(dir, 'id_ed25519'),
      GERRIT_SSH_HOST_KEY: doubles.ssh.hostKeyFingerprint,
    });
  }
  return settings;
}
