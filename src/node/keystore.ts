import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AethirError } from '../core/errors.js';
import { generateKeyPair, keyPairFromSecret, type KeyPair } from '../core/keys.js';
import {
  ensurePrivateDir,
  type ModeLog,
  PRIVATE_FILE_MODE,
  stderrLog,
  tightenPrivateFile,
} from '../core/private-files.js';

/**
 * Keys on disk: one JSON file per key, 0600 in a 0700 directory. A key file holds the secret seed;
 * losing it loses the account, sharing it gives the account away. A key file or directory found
 * open to other users is tightened when the key is loaded, and `log` says so.
 */
export class Keystore {
  constructor(
    readonly dir: string,
    private readonly log: ModeLog = stderrLog,
  ) {}

  path(name: string): string {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw new AethirError('INVALID_ARGUMENT', `key name "${name}" may use letters, digits, . _ - only`);
    return join(this.dir, `${name}.json`);
  }

  has(name: string): boolean {
    return existsSync(this.path(name));
  }

  load(name: string): KeyPair {
    const p = this.path(name);
    if (!existsSync(p))
      throw new AethirError(
        'NOT_FOUND',
        `no key "${name}" in ${this.dir}; create one with "aethir keys new ${name}"`,
      );
    ensurePrivateDir(this.dir, this.log);
    tightenPrivateFile(p, this.log);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new AethirError('INVALID_ARGUMENT', `key file ${p} is not valid JSON`, { cause: e });
    }
    const secret = raw && typeof raw === 'object' ? (raw as { secretKey?: unknown }).secretKey : undefined;
    if (typeof secret !== 'string')
      throw new AethirError('INVALID_ARGUMENT', `key file ${p} has no secretKey`);
    return keyPairFromSecret(secret);
  }

  create(name: string, key: KeyPair = generateKeyPair()): KeyPair {
    const p = this.path(name);
    if (existsSync(p)) throw new AethirError('CONFLICT', `key "${name}" already exists in ${this.dir}`);
    ensurePrivateDir(this.dir, this.log);
    writeFileSync(
      p,
      JSON.stringify(
        { name, address: key.address, publicKey: key.publicKey, secretKey: key.secretKey },
        null,
        2,
      ) + '\n',
      {
        mode: PRIVATE_FILE_MODE,
        flag: 'wx',
      },
    );
    chmodSync(p, PRIVATE_FILE_MODE);
    return key;
  }

  loadOrCreate(name: string): KeyPair {
    return this.has(name) ? this.load(name) : this.create(name);
  }

  /** Every key file; one that cannot be read is listed with its problem instead of failing the rest. */
  list(): Array<{ name: string; address: string; error?: string }> {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => {
        const name = f.slice(0, -5);
        try {
          return { name, address: this.load(name).address };
        } catch (e) {
          return { name, address: '', error: (e as Error).message };
        }
      });
  }
}
