import type { Lease } from '../ledger/model.js';
import type { SignedReceipt } from '../ledger/receipt.js';
import type { WorkloadEvent } from '../container/runtimes/runtime.js';

/** Bus subjects of the container role (NATS-style tokens). */
export const subjects = {
  heartbeat: (container: string) => `hb.${container}`,
  allHeartbeats: 'hb.*',
  leaseOpened: (container: string) => `lease.opened.${container}`,
  leaseClosed: (container: string) => `lease.closed.${container}`,
  /** an interruptible lease on this container was preempted (LeasePreempted): stop it by `stopAt` */
  leasePreempted: (container: string) => `lease.preempted.${container}`,
  leaseLog: (lease: string) => `lease.${lease}.log`,
  leaseExit: (lease: string) => `lease.${lease}.exit`,
  /** the user's signed usage receipts, from the API node that took them to the lease's container */
  leaseReceipt: (lease: string) => `lease.${lease}.receipt`,
  allLeaseReceipts: 'lease.*.receipt',
  allLeaseOutput: 'lease.*.*',
  /** request/reply: a checker's probe or capacity-challenge step, served by the container */
  check: (container: string) => `check.${container}`,
  /**
   * request/reply: a lease's kept log file, a page at a time, served by the container that ran it
   * (only with a lease token of the lease's user, scope `logs`, checked again by the container)
   */
  logs: (container: string) => `logs.${container}`,
} as const;

export interface HeartbeatMsg {
  container: string;
  at: number;
  freeGpus: number;
  runningLeases: number;
  /** 1-minute load average per CPU core (0 idle, 1 fully busy; more: overloaded) */
  load?: number;
  /** set while the container drains for maintenance: it takes no new leases */
  draining?: boolean;
  /** base URL of the container's endpoint proxy: a lease's endpoint is <endpoint>/l/<lease>/ */
  endpoint?: string;

  /** apps pre-installed and ready here, each as `name` and as `name@version` (docs/apps.md) */
  apps?: string[];
  /** 'docker': workloads run on a Docker engine, so leases naming an image can run here */
  runtime?: 'docker' | 'host-process';
  /** images cached on that engine (tags and `name@sha256:…` digests), newest first, at most 64 */
  images?: string[];
  /** the container's signature on all of the above (src/core/container-signature.ts) */
  sig?: string;
}

export interface LeaseOpenedMsg {
  lease: Lease;
}

export type LeaseLogMsg = { lease: string } & WorkloadEvent;

/** A usage receipt signed by the lease's user (see src/ledger/receipt.ts). */
export type LeaseReceiptMsg = SignedReceipt;
