/**
 * An epoch closed: rewards vested, the checkers' days paid. `coefficientChanged`: the staking
 * coefficient was recomputed to a new value, so every container's required stake may differ.
 */
export interface EpochClosed {
  type: 'EpochClosed';
  epoch: number;
  emitted: bigint;
  coefficientBps: number;
  coefficientChanged: boolean;
}

export type EpochsEvent = EpochClosed;
