/** Units moved from one account's balance to another's. */
export interface Transferred {
  type: 'Transferred';
  from: string;
  to: string;
  amount: bigint;
}

/** Vested earnings paid out to their owner (`forfeited`: what an early checker claim gave back). */
export interface VestingClaimed {
  type: 'VestingClaimed';
  address: string;
  claimed: bigint;
  forfeited: bigint;
}

export type BankEvent = Transferred | VestingClaimed;
