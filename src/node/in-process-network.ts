import { publishedApp, type PublishedApp } from '../ledger/app.js';
import type { Ledger } from '../ledger/machine.js';
import type { Account, Container, Lease } from '../ledger/model.js';
import type { Volume } from '../ledger/modules/volumes/queries.js';
import type { Params } from '../ledger/params.js';
import type { SignedTx } from '../ledger/tx.js';
import type { NetworkClient, SubmitResult } from '../sdk/network.js';
import type { SubmitOutcome } from './chain.js';

/** Whatever holds a ledger in this process: the embedded chain, or a replica of the shared log. */
export interface LedgerHost {
  readonly ledger: Ledger;
  readonly chainId: string;
  /** the embedded chain answers synchronously and throws; a replica resolves with an outcome */
  submit(tx: unknown): SubmitResult | Promise<SubmitOutcome>;
}

/** NetworkClient for roles running in the same process as a copy of the ledger. */
export class InProcessNetwork implements NetworkClient {
  constructor(private readonly host: LedgerHost) {}

  async chainId(): Promise<string> {
    return this.host.chainId;
  }
  async params(): Promise<Params> {
    return this.host.ledger.params;
  }
  async requiredStake(gpuModels: string[]): Promise<bigint> {
    return this.host.ledger.requiredStakeFor(gpuModels);
  }
  async account(address: string): Promise<Account> {
    return this.host.ledger.account(address);
  }
  async container(id: string): Promise<Container | undefined> {
    return this.host.ledger.container(id);
  }
  async checkers(): Promise<string[]> {
    return [...this.host.ledger.chain.checkers];
  }
  async lease(id: string): Promise<Lease | undefined> {
    return this.host.ledger.lease(id);
  }
  async openLeasesOf(container: string): Promise<string[]> {
    return (
      this.host.ledger
        .leases()
        // paused ones too: they hold its GPUs until closed
        .filter((l) => l.container === container && l.status !== 'closed')
        .map((l) => l.id)
    );
  }
  async app(name: string, version?: string): Promise<PublishedApp | undefined> {
    const ledger = this.host.ledger;
    const record = ledger.app(name);
    const release = record && ledger.appRelease(name, version);
    return record && release ? publishedApp(record, release) : undefined;
  }
  async volume(id: string): Promise<Volume | undefined> {
    return this.host.ledger.volume(id);
  }
  async volumesOn(container: string): Promise<Volume[]> {
    return this.host.ledger.volumes().filter((v) => v.container === container);
  }
  async submit(tx: SignedTx): Promise<SubmitResult> {
    const r = await this.host.submit(tx);
    if (!('ok' in r)) return r;
    if (!r.ok) throw r.error;
    return { id: r.id, height: r.height, root: r.root, result: r.result };
  }
}
