import sodium from 'libsodium-wrappers';
import { AethirError } from './errors.js';
import { canonicalize, decodeCanonical } from './encoding.js';
import type { KeyPair } from './keys.js';

/**
 * Secrets for a workload (`rent --env`), sealed to the container that runs it: libsodium's
 * sealed box (X25519 + XSalsa20-Poly1305, an ephemeral sender key per box), so the ledger and
 * the API hold only ciphertext. The container's X25519 key is the birational map of its ed25519
 * key (crypto_sign_ed25519_*_to_curve25519): no second key file, and the public half is
 * registered on the ledger (container.register `encKey`) so anyone can seal to it.
 *
 * A box is anonymous, so anyone could copy one into a lease of their own on the same container
 * and have it opened for their workload. Each box therefore seals the value together with the
 * chain, the user, the container and the variable's name, and is opened only for a lease that
 * matches all four.
 */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function sodiumReady(): Promise<typeof sodium> {
  await sodium.ready;
  return sodium;
}

function secretKey64(key: KeyPair): Uint8Array {
  return Buffer.concat([Buffer.from(key.secretKey, 'hex'), Buffer.from(key.publicKey, 'hex')]);
}

/** The X25519 public key (hex) that boxes for this ed25519 key are sealed to. */
export async function encKeyOf(key: KeyPair): Promise<string> {
  const s = await sodiumReady();
  return Buffer.from(s.crypto_sign_ed25519_pk_to_curve25519(Buffer.from(key.publicKey, 'hex'))).toString(
    'hex',
  );
}

/** Whom a sealed variable is for: a box opens only for a lease with all of these. */
export interface SealContext {
  chainId: string;
  /** the lease's user (address) */
  user: string;
  /** the container (address) */
  container: string;
}

const opened = (ctx: SealContext, name: string, value: string) =>
  canonicalize({ v: 1, chainId: ctx.chainId, user: ctx.user, container: ctx.container, name, value });

/** Seals each value to the container's X25519 key; names stay readable (the lease view lists them). */
export async function sealEnv(
  env: Record<string, string>,
  encKeyHex: string,
  ctx: SealContext,
): Promise<Record<string, string>> {
  if (!/^[0-9a-f]{64}$/.test(encKeyHex))
    throw new AethirError('INVALID_ARGUMENT', 'the encryption key must be 32 bytes of hex');
  const s = await sodiumReady();
  const pk = Buffer.from(encKeyHex, 'hex');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME_RE.test(name))
      throw new AethirError('INVALID_ARGUMENT', `"${name}" is not a variable name (letters, digits, _)`);
    out[name] = Buffer.from(s.crypto_box_seal(opened(ctx, name, value), pk)).toString('base64');
  }
  return out;
}

/** Opens every box with the container's key; any box not sealed for this lease is refused. */
export async function openEnv(
  sealed: Record<string, string>,
  key: KeyPair,
  ctx: SealContext,
): Promise<Record<string, string>> {
  const s = await sodiumReady();
  const pk = s.crypto_sign_ed25519_pk_to_curve25519(Buffer.from(key.publicKey, 'hex'));
  const sk = s.crypto_sign_ed25519_sk_to_curve25519(secretKey64(key));
  const env: Record<string, string> = {};
  for (const [name, box] of Object.entries(sealed)) {
    let plain: string;
    try {
      plain = s.to_string(s.crypto_box_seal_open(Buffer.from(box, 'base64'), pk, sk));
    } catch {
      throw new AethirError(
        'UNAUTHORIZED',
        `the sealed value of ${name} does not open with this container's key`,
      );
    }
    let value: unknown;
    try {
      value = decodeCanonical<{ value?: unknown }>(plain).value;
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string' || plain !== opened(ctx, name, value))
      throw new AethirError(
        'UNAUTHORIZED',
        `the sealed value of ${name} was sealed for another lease (chain, user, container or name differ)`,
      );
    env[name] = value;
  }
  return env;
}
