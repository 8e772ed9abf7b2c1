import { canonicalize } from '../core/canonical.js';
import type { UsageReceipt } from './receipt.js';

/*
 * The bytes a transaction's or a usage receipt's signature covers. No Node built-ins and no
 * schemas here: the browser console (web/) imports these very functions, so what it signs is
 * byte for byte what the CLI signs.
 */

export interface SigningTx {
  chainId: string;
  type: string;
  from: string;
  pubkey: string;
  nonce: number;
  payload: Record<string, unknown>;
}

export function signingBytes(tx: SigningTx): string {
  const { chainId, type, from, pubkey, nonce, payload } = tx;
  return `aethir-tx:${canonicalize({ chainId, type, from, pubkey, nonce, payload })}`;
}

/** The signed bytes: a domain tag, then the canonical receipt with the chain id. */
export function receiptSigningBytes(chainId: string, r: UsageReceipt): string {
  const { lease, servedMs, seq, at, samples } = r;
  return `aethir-receipt\0${canonicalize({ chainId, lease, servedMs, seq, at, samples })}`;
}

/** Payload values given as bigint become the wire's decimal strings. */
export function wirePayload(payload: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

/** A transaction before its signature, from the signer's public key and address. */
export function unsignedTx(
  signer: { address: string; publicKey: string },
  chainId: string,
  type: string,
  nonce: number,
  payload: Record<string, unknown>,
): SigningTx {
  return {
    chainId,
    type,
    from: signer.address,
    pubkey: signer.publicKey,
    nonce,
    payload: wirePayload(payload),
  };
}

/** The fields of a receipt that are signed, copied (and nothing else). */
export function receiptBody(r: UsageReceipt): UsageReceipt {
  return {
    lease: r.lease,
    servedMs: r.servedMs,
    seq: r.seq,
    at: r.at,
    ...(r.samples ? { samples: r.samples.map((s) => ({ ...s })) } : {}),
  };
}
