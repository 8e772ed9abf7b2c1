import type { CheckKind } from '../../model.js';

/** The checkers' majority decided a round: the container's verdict for that check. */
export interface CheckDecided {
  type: 'CheckDecided';
  container: string;
  check: CheckKind;
  ok: boolean;
  reason: string;
}

/** A failed check penalised a container: `amount` taken (earnings first, then stake), its leases closed. */
export interface Slashed {
  type: 'Slashed';
  container: string;
  check: CheckKind;
  amount: bigint;
  reason: string;
  leases: string[];
}

export type ChecksEvent = CheckDecided | Slashed;
