import { canonicalize } from './canonical.js';
import { sha256Hex } from './encoding.js';
import { addressOf, signMessage, verifySignature } from './keys.js';

/**
 * A checker's signature on the start of a capacity session (check-server.ts): the host runs one
 * session on its GPUs at a time, so a start from anyone but a ledger checker could hold the device
 * and make the assigned checkers' starts wait until the host is failed for not answering. The
 * signature binds the container, the checker, the session id and the time; the host takes a start
 * only when it verifies, its key is the checker's address, it is fresh, it was not used before, and
 * the address is one of the ledger's checkers.
 */
export interface CapacityStartAuth {
  /** the checker's public key, hex (its address is derived from it) */
  publicKey: string;
  /** when the checker signed, ms since the epoch (its clock) */
  at: number;
  signature: string;
}

/** How far a start's time may be from the host's clock (either way). */
export const CAPACITY_START_SKEW_MS = 120_000;

const bytes = (container: string, checker: string, session: string, at: number) =>
  `aethir:capacity-start:v1\n${container}\n${checker}\n${session}\n${at}`;

export function signCapacityStart(
  key: { publicKey: string; secretKey: string },
  start: { container: string; checker: string; session: string; at: number },
): CapacityStartAuth {
  return {
    publicKey: key.publicKey,
    at: start.at,
    signature: signMessage(key.secretKey, bytes(start.container, start.checker, start.session, start.at)),
  };
}

/**
 * Why a start's signature is not taken (null: it is the checker's, over this container and session,
 * within CAPACITY_START_SKEW_MS of `now`). Whether the checker is the ledger's is the caller's.
 */
export function capacityStartProblem(
  auth: CapacityStartAuth | undefined,
  start: { container: string; checker: string; session: string },
  now: number,
): string | null {
  if (!auth) return 'the start is not signed';
  if (addressOf(auth.publicKey) !== start.checker) return `the key is not ${start.checker.slice(0, 16)}'s`;
  if (Math.abs(now - auth.at) > CAPACITY_START_SKEW_MS)
    return `signed ${Math.round((now - auth.at) / 1000)} s from this host's clock (at most ${CAPACITY_START_SKEW_MS / 1000} s)`;
  const signed = bytes(start.container, start.checker, start.session, auth.at);
  return verifySignature(auth.publicKey, signed, auth.signature) ? null : 'the signature does not verify';
}

/**
 * A storage challenge (proof of storage, src/checker/storage.ts) is signed as a start whose session
 * is this id: the digest of the volume, the nonce and the blocks asked. The host admits it as it
 * admits a capacity start (signed by a ledger checker, fresh, never seen before), so a stranger
 * cannot make it read its canary blocks over and over, nor replay a checker's challenge.
 */
export function storageChallengeId(c: { volume: string; nonce: string; blocks: readonly number[] }): string {
  return `storage-${sha256Hex(canonicalize({ volume: c.volume, nonce: c.nonce, blocks: c.blocks }))}`;
}

/**
 * A checker's signature on one later step of a capacity session it started (anything after the
 * start: a challenge, fill, read, more, error or end). Whoever sees a session on the bus learns its
 * id; without this, they could end it, or send a step of their own, and so fail an honest host's
 * proof. A session whose start was signed takes only steps signed with the same key, each with a
 * sequence number above the last it took (a step seen on the bus cannot be sent again).
 */
export interface CapacityStepAuth {
  /** 1, 2, 3, … per session, increasing */
  seq: number;
  signature: string;
}

const stepBytes = (s: {
  container: string;
  checker: string;
  session: string;
  seq: number;
  message: unknown;
}) =>
  `aethir:capacity-step:v1\n${s.container}\n${s.checker}\n${s.session}\n${s.seq}\n${sha256Hex(canonicalize(s.message))}`;

export function signCapacityStep(
  key: { secretKey: string },
  step: { container: string; checker: string; session: string; seq: number; message: unknown },
): CapacityStepAuth {
  return { seq: step.seq, signature: signMessage(key.secretKey, stepBytes(step)) };
}

/**
 * Why a step is not taken (null: signed with `publicKey` over this container, session, sequence
 * number and message, and numbered above `lastSeq`).
 */
export function capacityStepProblem(
  publicKey: string,
  auth: CapacityStepAuth | undefined,
  step: { container: string; checker: string; session: string; message: unknown },
  lastSeq: number,
): string | null {
  if (!auth) return 'the step is not signed';
  if (!Number.isSafeInteger(auth.seq) || auth.seq <= lastSeq)
    return `step ${auth.seq} is not after step ${lastSeq} (sent before, or out of order)`;
  let bytes: string;
  try {
    bytes = stepBytes({ ...step, seq: auth.seq });
  } catch (e) {
    // a stranger's message nested past what canonicalize encodes: no checker signed that
    return `the step cannot be encoded: ${(e as Error).message.slice(0, 100)}`;
  }
  return verifySignature(publicKey, bytes, auth.signature)
    ? null
    : 'the step is not signed by the checker that started the session';
}
