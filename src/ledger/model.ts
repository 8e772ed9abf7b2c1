import type { ContainerSpec, Location, Workload } from './tx.js';
import type { Params } from './params.js';

/** The records the ledger state holds, under these key prefixes. */
export const K = {
  account: (a: string) => `acct/${a}`,
  container: (a: string) => `ctr/${a}`,
  lease: (id: string) => `lease/${id}`,
  treasury: 'treasury',
  params: 'params',
  chain: 'chain',
} as const;

export interface Account {
  balance: bigint;
  nonce: number;
}

export type ContainerStatus = 'pending' | 'online' | 'offline';

export interface Container {
  id: string;
  name: string;
  spec: ContainerSpec;
  location: Location;
  pricePerHour: bigint;
  stake: bigint;
  status: ContainerStatus;
  gpusTotal: number;
  gpusLeased: number;
  openLeases: number;
  earned: bigint;
  registeredAt: number;
  /** latest verdict of each checker: the status is their majority */
  reports: Record<string, { online: boolean; at: number }>;
}

export type LeaseStatus = 'open' | 'closed';

export interface Lease {
  id: string;
  user: string;
  container: string;
  gpus: number;
  pricePerHour: bigint;
  maxDurationSec: number;
  workload: Workload;
  escrow: bigint;
  charged: bigint;
  hostShare: bigint;
  protocolShare: bigint;
  openedAt: number;
  settledAt: number;
  closedAt: number | null;
  status: LeaseStatus;
  exitCode: number | null;
  closeReason: string | null;
  closedBy: string | null;
}

export interface Treasury {
  balance: bigint;
}

export interface ChainInfo {
  chainId: string;
  genesisTime: number;
  supply: bigint;
  checkers: string[];
}

export type { Params };
