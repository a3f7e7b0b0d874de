import { createHash } from 'node:crypto';

/**
 * ssh2's synchronous `hostVerifier`: receives the server's raw public key blob (when no
 * `hostHash` is configured) and returns whether to continue the handshake.
 */
export type HostKeyVerifier = (key: Buffer) => boolean;

/** OpenSSH's SHA256 fingerprint: 32 bytes are 43 base64 characters without padding. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * The OpenSSH-style fingerprint of a public key blob (SSH wire format), as printed by
 * `ssh-keygen -lf` and `ssh -v`: `SHA256:` plus unpadded base64 of the SHA-256 digest.
 */
export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** True for a well-formed `SHA256:<43 base64 chars>` fingerprint. */
export function isFingerprintSha256(value: string): boolean {
  return FINGERPRINT.test(value);
}

/**
 * Parses a configured list of pinned fingerprints, separated by commas and/or whitespace.
 *
 * ```ts
 * parseFingerprintList('SHA256:abc…, SHA256:def…') // ['SHA256:abc…', 'SHA256:def…']
 * ```
 *
 * @throws Error naming the first malformed value, or when the list is empty: an empty pin list
 *   would refuse every server, so it is a configuration mistake rather than a policy.
 */
export function parseFingerprintList(value: string): string[] {
  const items = value.split(/[\s,]+/).filter((item) => item !== '');
  if (items.length === 0) {
    throw new Error('no SSH host key fingerprint given: expected one or more values like SHA256:<43 base64 characters>');
  }
  for (const item of items) {
    if (!isFingerprintSha256(item)) {
      throw new Error(
        `invalid SSH host key fingerprint ${JSON.stringify(item)}: expected SHA256:<43 base64 characters>, ` +
          'as printed by `ssh-keygen -lf <key>.pub` or `ssh-keyscan <host> | ssh-keygen -lf -`',
      );
    }
  }
  return items;
}

/**
 * Builds a `hostVerifier` for ssh2 that accepts only the pinned keys.
 *
 * We pin instead of trusting on first use because Gerrit's stream decides what gets deployed:
 * an impostor server could inject merges. `onMismatch` receives the fingerprint that was seen,
 * so the operator can tell a rotated key from an attack.
 */
export function makeHostVerifier(pinned: readonly string[], onMismatch: (seen: string) => void): HostKeyVerifier {
  const allowed = new Set(pinned);
  return (key: Buffer): boolean => {
    const seen = fingerprintSha256(key);
    if (allowed.has(seen)) return true;
    onMismatch(seen);
    return false;
  };
}
