import type { Kysely } from 'kysely';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from 'jose';
import type { Database } from '../db/schema.js';
import type { Logger } from '../log.js';
import { KeyEncryption } from './key-encryption.js';

/** The signing algorithm of step tokens: ECDSA P-256, which Vault, AWS and GCP all accept. */
export const STEP_TOKEN_ALGORITHM = 'ES256';
/** No step token lives longer than this, so a key is published this long after it stops signing. */
export const MAX_STEP_TOKEN_LIFETIME_MS = 60 * 60 * 1000;

export interface SigningKey {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** A published public key: the JWK with its `kid`, `alg` and `use`. */
export type PublishedJwk = JWK & { readonly kid: string; readonly alg: string; readonly use: 'sig' };

/**
 * The keys that sign step identity tokens, in the database so every replica signs with and
 * publishes the same ones. A key signs from `created_at` to `not_after` (`rotateMs` later); the
 * newest key that still signs is used, and a new one is made when none does. A key stays
 * published until `not_after` plus the longest token lifetime, so every token it signed can be
 * verified until it expires; after that `rotate` deletes it. The private key is stored only
 * encrypted (`KeyEncryption`); decrypted keys are kept in memory by kid.
 */
export class StepTokenKeys {
  readonly #db: Kysely<Database>;
  readonly #sealer: KeyEncryption;
  readonly #rotateMs: number;
  readonly #now: () => Date;
  readonly #logger: Logger | undefined;
  readonly #decrypted = new Map<string, CryptoKey>();
  #making: Promise<SigningKey> | undefined;

  constructor(db: Kysely<Database>, o: { readonly secret: string; readonly rotateMs: number; readonly now?: () => Date; readonly logger?: Logger }) {
    this.#db = db;
    this.#sealer = new KeyEncryption(o.secret);
    this.#rotateMs = o.rotateMs;
    this.#now = o.now ?? (() => new Date());
    this.#logger = o.logger;
  }

  /** The key to sign with now: the newest one still signing, or a new one when there is none (or it cannot be decrypted). */
  async signingKey(): Promise<SigningKey> {
    const now = this.#now();
    const row = await this.#db.selectFrom('step_token_keys').selectAll().where('not_after', '>', now).where('created_at', '<=', now).orderBy('created_at', 'desc').orderBy('kid').limit(1).executeTakeFirst();
    if (row) {
      const cached = this.#decrypted.get(row.kid);
      if (cached) return { kid: row.kid, key: cached };
      try {
        const key = await importPKCS8(this.#sealer.decrypt(row.private_key_encrypted, row.kid), row.algorithm);
        this.#decrypted.set(row.kid, key);
        return { kid: row.kid, key };
      } catch {
        // made under another ROLLGATE_STEP_TOKEN_KEY: it cannot sign here, so a new key takes over
        this.#logger?.warn({ kid: row.kid }, 'a step token signing key cannot be decrypted with ROLLGATE_STEP_TOKEN_KEY_FILE (was it changed?); making a new key');
      }
    }
    // one key at a time from this process; two replicas may each make one, and both are published
    this.#making ??= this.#makeKey().finally(() => (this.#making = undefined));
    return this.#making;
  }

  /**
   * The scheduled rotation: makes the next key once the current one has stopped signing (or is
   * about to: within a minute), and deletes keys whose every token has expired.
   */
  async rotate(): Promise<{ readonly made: string | undefined; readonly deleted: number }> {
    const now = this.#now();
    const soon = new Date(now.getTime() + 60_000);
    const current = await this.#db.selectFrom('step_token_keys').select('kid').where('not_after', '>', soon).where('created_at', '<=', now).executeTakeFirst();
    const made = current ? undefined : (await this.#makeKey()).kid;
    const gone = await this.#db.deleteFrom('step_token_keys').where('not_after', '<=', new Date(now.getTime() - MAX_STEP_TOKEN_LIFETIME_MS)).executeTakeFirst();
    const deleted = Number(gone.numDeletedRows);
    if (made || deleted > 0) this.#logger?.info({ made, deleted }, 'rotated the step token signing keys');
    return { made, deleted };
  }

  /** The public keys a verifier may meet in a live token: those signing now and those whose tokens may not have expired yet. */
  async publicKeys(): Promise<{ keys: PublishedJwk[] }> {
    const now = this.#now();
    const rows = await this.#db
      .selectFrom('step_token_keys')
      .select(['kid', 'algorithm', 'public_jwk'])
      .where('not_after', '>', new Date(now.getTime() - MAX_STEP_TOKEN_LIFETIME_MS))
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return { keys: rows.map((r) => ({ ...(JSON.parse(r.public_jwk) as JWK), kid: r.kid, alg: r.algorithm, use: 'sig' as const })) };
  }

  async #makeKey(): Promise<SigningKey> {
    const { publicKey, privateKey } = await generateKeyPair(STEP_TOKEN_ALGORITHM, { extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const now = this.#now();
    await this.#db
      .insertInto('step_token_keys')
      .values({
        kid,
        algorithm: STEP_TOKEN_ALGORITHM,
        public_jwk: JSON.stringify(jwk),
        private_key_encrypted: this.#sealer.encrypt(await exportPKCS8(privateKey), kid),
        created_at: now,
        not_after: new Date(now.getTime() + this.#rotateMs),
      })
      .execute();
    this.#decrypted.set(kid, privateKey);
    this.#logger?.info({ kid }, 'made a new step token signing key');
    return { kid, key: privateKey };
  }
}
