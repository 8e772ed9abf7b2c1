import { z } from 'zod';
import { sha256Hex } from '../core/encoding.js';
import { AethirError } from '../core/errors.js';
import { addressOf, signMessage, verifySignature, type KeyPair } from '../core/keys.js';
import { Payloads, type TxType } from './registry.js';
import { Address } from './schemas.js';
import { signingBytes, unsignedTx } from './signing.js';

export { signingBytes, unsignedTx, wirePayload, type SigningTx } from './signing.js';
export { Address, Units, PositiveUnits } from './schemas.js';
export { GpuSpec, ContainerSpec, Location } from './modules/containers/payloads.js';
export { Workload } from './modules/leases/payloads.js';
export { Payloads, type TxType } from './registry.js';

/**
 * A transaction is a signed, canonical JSON object. The signature covers the chain id, so a
 * transaction from one network cannot be replayed on another, and a per-account nonce, so it
 * cannot be replayed on the same one. Amounts travel as decimal strings of units. Each
 * transaction type's payload schema lives in its module (src/ledger/modules/<name>/payloads.ts),
 * gathered by the registry.
 */
export const TX_TYPES = Object.keys(Payloads) as TxType[];
export type Payload<T extends TxType> = z.output<(typeof Payloads)[T]>;

/** Wire form: what clients sign and send. `payload` holds strings where the ledger holds bigints. */
export const SignedTxSchema = z
  .object({
    chainId: z.string().min(1).max(64),
    type: z.enum(TX_TYPES as [TxType, ...TxType[]]),
    from: Address,
    pubkey: z.string().regex(/^[0-9a-f]{64}$/, 'must be a 32-byte hex public key'),
    nonce: z.number().int().min(0),
    payload: z.record(z.string(), z.unknown()),
    sig: z.string().regex(/^[0-9a-f]{128}$/, 'must be a 64-byte hex signature'),
  })
  .strict();
export type SignedTx = z.infer<typeof SignedTxSchema>;
export type UnsignedTx = Omit<SignedTx, 'sig'>;

/** sha256 of the signed bytes and the signature: unique per signed transaction. */
export function txId(tx: SignedTx, signed: string = signingBytes(tx)): string {
  return sha256Hex(`${signed}\u0000${tx.sig}`);
}

/** A value as a client may give it: units as bigint or as the wire's decimal string. */
type Loose<V> = V extends bigint
  ? bigint | string
  : V extends ReadonlyArray<infer E>
    ? Array<Loose<E>>
    : V extends object
      ? { [P in keyof V]: Loose<V[P]> }
      : V;

/**
 * A payload of type T as a client gives it to `signTx` / `TxSender.send`: the registry's schema
 * for T (amounts as bigint or decimal strings; defaulted fields optional), so a wrong payload
 * fails to compile. A caller whose type is not known statically (any TxType) may pass any record:
 * the ledger checks it on arrival.
 */
export type PayloadInput<T extends TxType> = [TxType] extends [T]
  ? Record<string, unknown>
  : T extends TxType
    ? z.input<(typeof Payloads)[T]> extends infer I
      ? { [P in keyof I]: P extends keyof Payload<T> ? Loose<Payload<T>[P]> : I[P] }
      : never
    : never;

/** Payload values given as bigint are converted to the wire's decimal strings. */
export function signTx<T extends TxType>(
  key: KeyPair,
  chainId: string,
  type: T,
  nonce: number,
  payload: PayloadInput<T>,
): SignedTx {
  const unsigned = unsignedTx(key, chainId, type, nonce, payload as Record<string, unknown>) as UnsignedTx;
  return { ...unsigned, sig: signMessage(key.secretKey, signingBytes(unsigned)) };
}

export interface DecodedTx<T extends TxType = TxType> {
  id: string;
  tx: SignedTx;
  type: T;
  payload: Payload<T>;
}

/** Checks shape, chain, key-address binding and signature; statelessly. */
export function decodeTx(input: unknown, chainId: string): DecodedTx {
  const shape = SignedTxSchema.safeParse(input);
  if (!shape.success) {
    const i = shape.error.issues[0]!;
    throw new AethirError(
      'INVALID_TRANSACTION',
      `malformed transaction: ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
  }
  const tx = shape.data;
  if (tx.chainId !== chainId)
    throw new AethirError('WRONG_CHAIN', `transaction is for chain "${tx.chainId}", this is "${chainId}"`);
  if (addressOf(tx.pubkey) !== tx.from)
    throw new AethirError('BAD_SIGNATURE', 'public key does not belong to the sending address');
  // The signed bytes are built once: for the signature and for the transaction id.
  const signed = signingBytes(tx);
  if (!verifySignature(tx.pubkey, signed, tx.sig))
    throw new AethirError('BAD_SIGNATURE', 'signature does not verify');
  const p = Payloads[tx.type].safeParse(tx.payload);
  if (!p.success) {
    const i = p.error.issues[0]!;
    throw new AethirError(
      'INVALID_TRANSACTION',
      `invalid ${tx.type} payload: ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
  }
  return { id: txId(tx, signed), tx, type: tx.type, payload: p.data as Payload<TxType> };
}
