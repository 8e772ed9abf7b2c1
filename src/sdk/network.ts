import type { PublishedApp } from '../ledger/app.js';
import type { TxResult } from '../ledger/context.js';
import type { Account, Container, Lease } from '../ledger/model.js';
import type { Volume } from '../ledger/modules/volumes/queries.js';
import type { Params } from '../ledger/params.js';
import type { SignedTx } from '../ledger/tx.js';

export interface SubmitResult {
  id: string;
  height: number;
  root: string;
  result: TxResult;
}

/**
 * What a participant (container agent, checker, CLI) needs from the network. Implemented
 * in-process over the chain (devnet) and over HTTP by the API client, so a role runs the
 * same code whether it sits beside the ledger or on another machine.
 */
export interface NetworkClient {
  chainId(): Promise<string>;
  params(): Promise<Params>;
  /** the stake a container with these GPU models must hold now */
  requiredStake(gpuModels: string[]): Promise<bigint>;
  account(address: string): Promise<Account>;
  container(id: string): Promise<Container | undefined>;
  lease(id: string): Promise<Lease | undefined>;
  /** ids of the leases not closed on a container (open, and paused: they hold its GPUs) */
  openLeasesOf(container: string): Promise<string[]>;
  submit(tx: SignedTx): Promise<SubmitResult>;
  /** a published app: the given version (default: the latest) with its manifest; undefined: none */
  app?(name: string, version?: string): Promise<PublishedApp | undefined>;
  /** a persistent volume by id (undefined: none); absent: this client knows no volumes */
  volume?(id: string): Promise<Volume | undefined>;
  /** the volumes (any status) living on a container */
  volumesOn?(container: string): Promise<Volume[]>;
  /** the ledger's checkers (addresses); absent: this client cannot say */
  checkers?(): Promise<string[]>;
}
