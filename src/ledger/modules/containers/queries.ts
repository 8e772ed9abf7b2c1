import type { Container } from '../../model.js';
import { requiredStake } from '../../params.js';
import type { LedgerReader } from '../../reader.js';

/** The stake a host with these GPU models (none: a CPU host) must hold now: K table × coefficient. */
export function requiredStakeFor(r: LedgerReader, gpuModels: readonly string[]): bigint {
  return requiredStake(r.params, r.economics.coefficientBps, gpuModels);
}

/** Online, staked, not suspended, not unbonding: may be matched and earns capacity rewards. */
export function isServing(r: LedgerReader, c: Container): boolean {
  return c.status === 'online' && !c.suspended && c.unbonding === 0n && c.stake >= r.requiredStakeOf(c);
}

/**
 * A container has left the network when nothing of it is at stake or in use any more: no stake,
 * nothing unbonding, no open lease, and the checkers call it offline (it withdrew, or was
 * slashed out). What a node keeps per container (API, checkers) is dropped then.
 */
export function hasLeft(c: Container): boolean {
  return c.status === 'offline' && c.stake === 0n && c.unbonding === 0n && c.openLeases === 0;
}
