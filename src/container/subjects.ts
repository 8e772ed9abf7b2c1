import type { Lease } from '../ledger/index.js';
import type { WorkloadEvent } from './runtimes/runtime.js';

/** Bus subjects of the container role (NATS-style tokens). */
export const subjects = {
  heartbeat: (container: string) => `hb.${container}`,
  allHeartbeats: 'hb.*',
  leaseOpened: (container: string) => `lease.opened.${container}`,
  leaseClosed: (container: string) => `lease.closed.${container}`,
  leaseLog: (lease: string) => `lease.${lease}.log`,
  leaseExit: (lease: string) => `lease.${lease}.exit`,
  allLeaseOutput: 'lease.*.*',
} as const;

export interface HeartbeatMsg {
  container: string;
  at: number;
  freeGpus: number;
  runningLeases: number;
  /** set while the container drains for maintenance: it takes no new leases */
  draining?: boolean;
}

export interface LeaseOpenedMsg {
  lease: Lease;
}

export type LeaseLogMsg = { lease: string } & WorkloadEvent;
