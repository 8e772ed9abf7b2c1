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
