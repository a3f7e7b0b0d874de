import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { createTestDatabase, type Backend, type TestDatabase } from './backends.js';
import { alice, bob, carol, changeMergedEvent, GROUPS, mergedChange } from './change-events.js';
import { doubleSettings } from './double-settings.js';
import { freePort } from './free-port.js';
import { IDP_USERS, startTestIdp, type IdpUser, type TestIdp } from './oidc-provider.js';
import { startRestGerritDouble, type DoubleChange, type RestGerritDouble } from './rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from './ssh-gerrit-double.js';
import { waitFor } from './wait-for.js';
import { tempDir } from './temp-dir.js';

/**
 * rollgate with operator login, on one backend: the Gerrit doubles (alice in `sre`, bob in
 * `developers`, carol in no group), a real OpenID provider on loopback, and the fixture policy
 * with `prod-deployer` also given by the IdP group `ops-oncall` (dave's, who has no Gerrit group).
 */
export interface RollgateWithLogin {
  readonly url: string;
  readonly service: RunningService;
  readonly rest: RestGerritDouble;
  readonly ssh: SshGerritDouble;
  readonly idp: TestIdp;
  /** Folder the fixture steps record their calls in (`RECORD_DIR`). */
  readonly recordDir: string;
  stop(): Promise<void>;
}

export const dave = { _account_id: 1000004, username: 'dave', name: 'Dave Oncall', email: 'dave@example.com' };
export const LOGIN_USERS: readonly IdpUser[] = [...IDP_USERS, { login: 'dave', email: 'dave@example.com', groups: ['ops-oncall'] }];

const FIXTURES = path.resolve('test/fixtures');
const ROLES = `roles:
  prod-deployer:    { gerrit_groups: [sre], idp_groups: [ops-oncall] }
  staging-deployer: { gerrit_groups: [developers] }
`;

export async function startRollgateWithLogin(
  backend: Backend,
  o: { readonly workflow?: string; readonly rollouts?: string; readonly env?: Readonly<Record<string, string>>; /** People the provider knows besides LOGIN_USERS. */ readonly idpUsers?: readonly IdpUser[] } = {},
): Promise<RollgateWithLogin> {
  const rest = await startRestGerritDouble();
  const ssh = await startSshGerritDouble();
  for (const [account, groups] of [[alice, [GROUPS.sre]], [bob, [GROUPS.developers]], [carol, []], [dave, []]] as const) rest.addAccount(account, [...groups]);
  const database: TestDatabase = await createTestDatabase(backend);
  const tmp = tempDir('rollgate-login-');
  const policies = path.join(tmp, 'policies');
  mkdirSync(path.join(policies, 'workflows'), { recursive: true });
  writeFileSync(path.join(policies, 'roles.yaml'), ROLES);
  if (o.rollouts) writeFileSync(path.join(policies, 'rollouts.yaml'), o.rollouts);
  else copyFileSync(path.join(FIXTURES, 'policies/rollouts.yaml'), path.join(policies, 'rollouts.yaml'));
  if (o.workflow) writeFileSync(path.join(policies, 'workflows/deploy-service.yaml'), o.workflow);
  else copyFileSync(path.join(FIXTURES, 'policies/workflows/deploy-service.yaml'), path.join(policies, 'workflows/deploy-service.yaml'));
  const recordDir = path.join(tmp, 'record');
  mkdirSync(recordDir);
  // the port must be known before rollgate listens (the provider redirects to it); another socket
  // (a database connection's local end, say) may take it meanwhile: then try another
  const start = async (port: number) => {
    const url = `http://127.0.0.1:${port}`;
    const idp = await startTestIdp({ redirectUrl: `${url}/auth/callback`, users: [...LOGIN_USERS, ...(o.idpUsers ?? [])] });
    try {
      return { url, idp, service: await startService(settings(port, url, idp), silentLogger(), { idleMs: 50 }) };
    } catch (err) {
      await idp.close();
      throw err;
    }
  };
  const settings = (port: number, url: string, idp: TestIdp) => loadConfig({
    PATH: process.env.PATH,
    PORT: String(port),
    ROLLGATE_DATA_DIR: 'memory://',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ROLLGATE_POLICY_DIR: policies,
    ROLLGATE_WORK_DIR: FIXTURES,
    ROLLGATE_SETTLE_MS: '0',
    ROLLGATE_PUBLIC_URL: url,
    ROLLGATE_STEP_ENV: 'RECORD_DIR',
    RECORD_DIR: recordDir,
    ROLLGATE_SESSION_SECRET: 'a-session-secret-for-tests-0123456789',
    ...idp.settings,
    ...doubleSettings(tmp, { rest, ssh }),
    ...o.env,
  });
  let started: Awaited<ReturnType<typeof start>> | undefined;
  for (let tries = 1; !started; tries++) {
    try {
      started = await start(await freePort());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries >= 3) throw err;
    }
  }
  const { url, idp, service } = started;
  await ssh.waitForSession(1);
  return {
    url,
    service,
    rest,
    ssh,
    idp,
    recordDir,
    async stop() {
      await service.stop();
      await database.drop();
      await ssh.close();
      await rest.close();
      await idp.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * A merge of bob's that only bob approved (no self-approval), with a justification footer:
 * rollgate holds it. Returns the held rollout's id and the change.
 */
export async function heldRollout(r: RollgateWithLogin, number: number, subject = `Change ${number}`): Promise<{ readonly id: number; readonly change: DoubleChange }> {
  const change = mergedChange(number, bob, { subject, commitMessage: `${subject}\n\nRollout-Justification: INC-${number}\n`, votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
  r.rest.setChange(change);
  r.ssh.push(changeMergedEvent(change));
  const row = await waitFor('the held rollout', () => r.service.database.db.selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', number).executeTakeFirst());
  if (row.status !== 'held') throw new Error(`rollout of change ${number} is ${row.status}, not held`);
  return { id: row.id, change };
}

/**
 * Merges an approved change whose step is `ops/oidc-step.mjs` held (`oidc-hold`): calls `whileHeld`
 * with the token the step received while the step still runs, then lets it finish (`oidc-go`) and
 * returns the finish message.
 */
export async function tokenWhileStepHolds(r: RollgateWithLogin, number: number, whileHeld: (token: string) => Promise<void>): Promise<string> {
  writeFileSync(path.join(r.recordDir, 'oidc-hold'), '');
  const change = mergedChange(number, bob, { commitMessage: 'Deploy\n\nRollout-Justification: routine\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
  r.rest.setChange(change);
  r.ssh.push(changeMergedEvent(change));
  const tokenFile = path.join(r.recordDir, 'oidc-token');
  await waitFor('the step to have its token', () => existsSync(tokenFile));
  await whileHeld(readFileSync(tokenFile, 'utf8'));
  writeFileSync(path.join(r.recordDir, 'oidc-go'), '');
  return (await waitFor('the finish message', () => r.rest.reviews.find((m) => m.changeNumber === number && /SUCCEEDED|FAILED/.test(m.message)))).message;
}
