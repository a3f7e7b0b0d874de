import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { tempDir } from './helpers/temp-dir.js';

const SECRET = 'a-session-secret-of-at-least-32-chars';
const OIDC = {
  ROLLGATE_OIDC_ISSUER: 'https://idp.example/realms/ops',
  ROLLGATE_OIDC_CLIENT_ID: 'rollgate',
  ROLLGATE_OIDC_CLIENT_SECRET: 'client-secret',
  ROLLGATE_SESSION_SECRET: SECRET,
  ROLLGATE_PUBLIC_URL: 'https://rollgate.example/',
};

describe('loadConfig', () => {
  it('has working defaults with nothing set', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8787);
    expect(config.host).toBe('127.0.0.1');
    expect(config.oidc).toBeUndefined();
    expect(config.gerritRest).toBeUndefined();
  });

  it('reads OIDC settings, with the callback under the public URL and the documented defaults', () => {
    expect(loadConfig(OIDC).oidc).toEqual({
      issuer: 'https://idp.example/realms/ops',
      clientId: 'rollgate',
      clientSecret: 'client-secret',
      redirectUrl: 'https://rollgate.example/auth/callback',
      scopes: 'openid profile email',
      groupsClaim: 'groups',
      accountClaim: 'preferred_username',
      sessionSecret: SECRET,
      sessionTtlMs: 12 * 3600_000,
    });
  });

  it('takes an explicit redirect URL, scopes, claims and session lifetime', () => {
    const oidc = loadConfig({
      ...OIDC,
      ROLLGATE_OIDC_REDIRECT_URL: 'https://ops.example/rollgate/auth/callback',
      ROLLGATE_OIDC_SCOPES: 'openid email groups',
      ROLLGATE_OIDC_GROUPS_CLAIM: 'roles',
      ROLLGATE_OIDC_ACCOUNT_CLAIM: 'email',
      ROLLGATE_SESSION_TTL: '30m',
    }).oidc!;
    expect(oidc).toMatchObject({ redirectUrl: 'https://ops.example/rollgate/auth/callback', scopes: 'openid email groups', groupsClaim: 'roles', accountClaim: 'email', sessionTtlMs: 30 * 60_000 });
  });

  it('reads the client and session secrets from files', () => {
    const dir = tempDir('rollgate-config-');
    writeFileSync(path.join(dir, 'client'), 'from-a-file\n');
    writeFileSync(path.join(dir, 'session'), `${SECRET}-file\n`);
    const { ROLLGATE_OIDC_CLIENT_SECRET: _c, ROLLGATE_SESSION_SECRET: _s, ...rest } = OIDC;
    const oidc = loadConfig({ ...rest, ROLLGATE_OIDC_CLIENT_SECRET_FILE: path.join(dir, 'client'), ROLLGATE_SESSION_SECRET_FILE: path.join(dir, 'session') }).oidc!;
    expect(oidc.clientSecret).toBe('from-a-file');
    expect(oidc.sessionSecret).toBe(`${SECRET}-file`);
  });

  it('names what is missing from a partial OIDC setup', () => {
    expect(() => loadConfig({ ROLLGATE_OIDC_ISSUER: OIDC.ROLLGATE_OIDC_ISSUER })).toThrow(
      'OIDC is partly configured: also set ROLLGATE_OIDC_CLIENT_ID, ROLLGATE_OIDC_CLIENT_SECRET or ROLLGATE_OIDC_CLIENT_SECRET_FILE, ROLLGATE_SESSION_SECRET or ROLLGATE_SESSION_SECRET_FILE',
    );
  });

  it('refuses a short session secret, and a missing public URL', () => {
    expect(() => loadConfig({ ...OIDC, ROLLGATE_SESSION_SECRET: 'short' })).toThrow('ROLLGATE_SESSION_SECRET: use at least 32 characters');
    const { ROLLGATE_PUBLIC_URL: _p, ...noUrl } = OIDC;
    expect(() => loadConfig(noUrl)).toThrow('OIDC: set ROLLGATE_PUBLIC_URL (or ROLLGATE_OIDC_REDIRECT_URL)');
  });

  it('allows an http issuer only on loopback', () => {
    expect(() => loadConfig({ ...OIDC, ROLLGATE_OIDC_ISSUER: 'http://idp.example' })).toThrow('ROLLGATE_OIDC_ISSUER: use https (http is allowed only on loopback hosts such as 127.0.0.1), got http://idp.example');
    expect(loadConfig({ ...OIDC, ROLLGATE_OIDC_ISSUER: 'http://127.0.0.1:9000' }).oidc?.issuer).toBe('http://127.0.0.1:9000');
    expect(loadConfig({ ...OIDC, ROLLGATE_OIDC_ISSUER: 'http://localhost:9000' }).oidc?.issuer).toBe('http://localhost:9000');
  });

  it('takes defaults from the ROLLGATE_CONFIG file, lets the environment win, and names the file in its errors', () => {
    const dir = tempDir('rollgate-config-');
    const file = path.join(dir, 'rollgate.yaml');
    writeFileSync(file, 'PORT: 9100\nROLLGATE_POLICY_DIR: /etc/rollgate/policies\nLOG_LEVEL: debug\n');
    const config = loadConfig({ ROLLGATE_CONFIG: file, LOG_LEVEL: 'warn' });
    expect(config.port).toBe(9100);
    expect(config.policyDir).toBe('/etc/rollgate/policies');
    expect(config.logLevel).toBe('warn');

    writeFileSync(file, 'PORT: eighty\n');
    expect(() => loadConfig({ ROLLGATE_CONFIG: file })).toThrow(`${file}: PORT: `);
    // the environment's value replaces the file's bad one
    expect(loadConfig({ ROLLGATE_CONFIG: file, PORT: '9200' }).port).toBe(9200);

    writeFileSync(file, 'PORT: 9100\nGERRIT_PASSWORD: x\n');
    expect(() => loadConfig({ ROLLGATE_CONFIG: file })).toThrow(`${file}: unknown setting(s): GERRIT_PASSWORD`);
    writeFileSync(file, 'PORT: [9100\n');
    expect(() => loadConfig({ ROLLGATE_CONFIG: file })).toThrow(`${file}: not valid YAML or JSON`);
    expect(() => loadConfig({ ROLLGATE_CONFIG: path.join(dir, 'missing.yaml') })).toThrow(`ROLLGATE_CONFIG: cannot read ${path.join(dir, 'missing.yaml')}: ENOENT`);
  });

  it('says which setting is malformed', () => {
    expect(() => loadConfig({ ...OIDC, ROLLGATE_SESSION_TTL: 'forever' })).toThrow('ROLLGATE_SESSION_TTL: not a duration (e.g. 30m, 12h)');
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT: /);
  });
});
