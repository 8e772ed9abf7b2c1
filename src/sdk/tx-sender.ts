import { isAethirError } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import type { TxType } from '../ledger/registry.js';
import { signTx, type PayloadInput } from '../ledger/tx.js';
import type { NetworkClient, SubmitResult } from './network.js';

/**
 * Signs and sends one account's transactions in order. Nonces are tracked locally so several
 * transactions can be queued at once; a nonce mismatch (another client used the same key)
 * refreshes the nonce from the network and retries once.
 */
export class TxSender {
  private nonce: number | null = null;
  private chain: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly key: KeyPair,
    private readonly network: NetworkClient,
  ) {}

  /** `payload`: the registry's schema for `type` (src/ledger/registry.ts); a wrong one does not compile. */
  send<T extends TxType>(type: T, payload: PayloadInput<T>): Promise<SubmitResult> {
    const run = this.queue.then(() => this.sendNow(type, payload));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendNow<T extends TxType>(
    type: T,
    payload: PayloadInput<T>,
    retried = false,
  ): Promise<SubmitResult> {
    this.chain ??= await this.network.chainId();
    this.nonce ??= (await this.network.account(this.key.address)).nonce;
    const tx = signTx(this.key, this.chain, type, this.nonce, payload);
    try {
      const r = await this.network.submit(tx);
      this.nonce++;
      return r;
    } catch (e) {
      if (isAethirError(e) && e.code === 'NONCE_MISMATCH' && !retried) {
        this.nonce = null;
        return this.sendNow(type, payload, true);
      }
      // A rejected transaction did not consume the nonce; a transport error might have.
      if (!isAethirError(e) || e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT') this.nonce = null;
      throw e;
    }
  }
}
