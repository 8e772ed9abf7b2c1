import type { Account, Container, Lease, Params, SignedTx } from '../ledger/index.js';
import type { NetworkClient, SubmitResult } from '../sdk/index.js';
import type { Chain } from './chain.js';

/** NetworkClient for roles running in the same process as the chain. */
export class InProcessNetwork implements NetworkClient {
  constructor(private readonly chain: Chain) {}

  async chainId(): Promise<string> {
    return this.chain.chainId;
  }
  async params(): Promise<Params> {
    return this.chain.ledger.params;
  }
  async requiredStake(gpuModels: string[]): Promise<bigint> {
    return this.chain.ledger.requiredStakeFor(gpuModels);
  }
  async account(address: string): Promise<Account> {
    return this.chain.ledger.account(address);
  }
  async container(id: string): Promise<Container | undefined> {
    return this.chain.ledger.container(id);
  }
  async lease(id: string): Promise<Lease | undefined> {
    return this.chain.ledger.lease(id);
  }
  async openLeasesOf(container: string): Promise<string[]> {
    return this.chain.ledger
      .leases()
      .filter((l) => l.container === container && l.status === 'open')
      .map((l) => l.id);
  }
  async submit(tx: SignedTx): Promise<SubmitResult> {
    return this.chain.submit(tx);
  }
}
