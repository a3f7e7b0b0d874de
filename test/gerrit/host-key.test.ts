import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { fingerprintSha256, makeHostVerifier, parseFingerprintList } from '../../src/gerrit/host-key.js';

// a fixed key and the fingerprint `ssh-keygen -lf` printed for it
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeJDbNFJ5XX82vG0yBh4PDNJkZvqPoBA+B1dl/IyOOH';
const OPENSSH_FINGERPRINT = 'SHA256:ElUjpkNK7lc9UhddZGWp4gW8GuoSc6dSfM0JmDFwjBg';
const OTHER = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU';

function keyBlob(): Buffer {
  const parsed = ssh2.utils.parseKey(PUBLIC_KEY);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
}

describe('fingerprintSha256', () => {
  it('matches ssh-keygen -lf', () => {
    expect(fingerprintSha256(keyBlob())).toBe(OPENSSH_FINGERPRINT);
  });
});

describe('parseFingerprintList', () => {
  it.each([
    [OPENSSH_FINGERPRINT, [OPENSSH_FINGERPRINT]],
    [`${OPENSSH_FINGERPRINT},${OTHER}`, [OPENSSH_FINGERPRINT, OTHER]],
    [` ${OPENSSH_FINGERPRINT} ,\n ${OTHER} `, [OPENSSH_FINGERPRINT, OTHER]],
  ])('parses %j', (value, expected) => {
    expect(parseFingerprintList(value)).toEqual(expected);
  });

  it.each([
    ['MD5:12:34', /invalid SSH host key fingerprint "MD5:12:34"/],
    [`${OPENSSH_FINGERPRINT}=`, /invalid SSH host key fingerprint/],
    [`sha256:${OPENSSH_FINGERPRINT.slice(7)}`, /invalid SSH host key fingerprint "sha256:/],
    [`${OPENSSH_FINGERPRINT}, SHA256:short`, /"SHA256:short"/],
    [' , ', /no SSH host key fingerprint given/],
  ])('rejects %j, naming the bad value', (value, message) => {
    expect(() => parseFingerprintList(value)).toThrow(message);
  });
});

describe('makeHostVerifier', () => {
  it('accepts a pinned key without reporting', () => {
    const seen: string[] = [];
    expect(makeHostVerifier([OTHER, OPENSSH_FINGERPRINT], (fp) => seen.push(fp))(keyBlob())).toBe(true);
    expect(seen).toEqual([]);
  });

  it('refuses an unknown key and reports the fingerprint it saw', () => {
    const seen: string[] = [];
    expect(makeHostVerifier([OTHER], (fp) => seen.push(fp))(keyBlob())).toBe(false);
    expect(seen).toEqual([OPENSSH_FINGERPRINT]);
  });
});
