import { AethirError } from '../../../core/errors.js';
import { paramsFromWire, paramsToWire } from '../../genesis.js';
import { proposalPhase as phaseOf, weightAt } from '../../governance.js';
import type { Proposal } from '../../model.js';
import { OPTIONAL_PARAMS, type Params } from '../../params.js';
import type { LedgerReader } from '../../reader.js';

/** Voting weight of an account at time t (its lock decays linearly to its end). */
export function weightOf(r: LedgerReader, address: string, t: number): bigint {
  return weightAt(r.lock(address), t, r.params.lockMaxMs);
}

/** Total voting weight at time t. */
export function totalWeight(r: LedgerReader, t: number): bigint {
  let w = 0n;
  for (const l of r.locks()) w += weightAt(l, t, r.params.lockMaxMs);
  return w;
}

/** How many ratifications an operational proposal needs (0: no council yet): a majority of the members. */
export function councilMajority(r: LedgerReader): number {
  // Distinct members: one holding two seats ratifies once; counting seats could ask for more
  // ratifications than there are members, and no operational change could ever pass.
  const filled = new Set(Object.values(r.dao.council).filter(Boolean)).size;
  return filled === 0 ? 0 : Math.floor(filled / 2) + 1;
}

export function proposalPhase(r: LedgerReader, p: Proposal, t: number) {
  return phaseOf(p, t, r.params.quorumBps, councilMajority(r));
}

/** The parameter set with these changes, validated against every bound; throws INVALID_TRANSACTION. */
export function validateParamChanges(r: LedgerReader, changes: Record<string, unknown>): Params {
  const current = paramsToWire(r.params);
  for (const k of Object.keys(changes))
    if ((!Object.prototype.hasOwnProperty.call(current, k) && !OPTIONAL_PARAMS.has(k)) || k === 'version')
      throw new AethirError('INVALID_TRANSACTION', `no parameter "${k}"`);
  try {
    return paramsFromWire({ ...current, ...changes, version: r.params.version + 1 });
  } catch (e) {
    throw new AethirError('INVALID_TRANSACTION', (e as Error).message, { cause: e });
  }
}
