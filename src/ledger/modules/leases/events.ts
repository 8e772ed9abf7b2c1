import type { Lease } from '../../model.js';

/** A lease opened: the record as it was opened. */
export interface LeaseOpened {
  type: 'LeaseOpened';
  lease: Lease;
}

/** A lease's charge moved forward (lease.settle). */
export interface LeaseSettled {
  type: 'LeaseSettled';
  lease: string;
  container: string;
  /** the lease's total charge after the settle, units */
  charged: bigint;
}

/**
 * A lease closed: by its user or its container (lease.close), or by the ledger when a check
 * failed on its container (checker.report). `reason` is the lease's `closeReason`, `by` its
 * `closedBy`.
 */
export interface LeaseClosed {
  type: 'LeaseClosed';
  lease: string;
  container: string;
  user: string;
  by: string;
  reason: string;
}

/** A lease's user moved ATH into its escrow (lease.topup). */
export interface LeaseToppedUp {
  type: 'LeaseToppedUp';
  lease: string;
  container: string;
  user: string;
  /** units moved in */
  amount: bigint;
  /** the lease's escrow after it */
  escrow: bigint;
}

/** A lease's escrow ran out and its container paused it (lease.pause); `at`: when it ran out. */
export interface LeasePaused {
  type: 'LeasePaused';
  lease: string;
  container: string;
  user: string;
  at: number;
  /** when it closes unless topped up (at + params.pauseGraceMs) */
  closesAt: number;
}

/** A paused lease was topped up within its grace period: its workload starts again. */
export interface LeaseResumed {
  type: 'LeaseResumed';
  lease: string;
  container: string;
  user: string;
}

/**
 * An interruptible lease preempted by a higher-paying one (`by`): the notice. Its charges stop
 * at `at`; its workload gets SIGTERM now and is stopped at `stopAt`; its GPUs go to `by`.
 */
export interface LeasePreempted {
  type: 'LeasePreempted';
  lease: string;
  container: string;
  user: string;
  by: string;
  at: number;
  stopAt: number;
}

export type LeasesEvent =
  LeaseOpened | LeaseSettled | LeaseClosed | LeaseToppedUp | LeasePaused | LeaseResumed | LeasePreempted;
