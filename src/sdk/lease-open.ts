import { AethirError, sealEnv } from '../core/index.js';
import type { Workload } from '../ledger/index.js';
import type { ApiClient, ContainerView } from './client.js';
import type { TxSender } from './tx-sender.js';

/** What a lease runs, before its env is sealed: a command or an app, and the env values in clear. */
export type LeaseWorkload = Omit<Workload, 'env' | 'sealedEnv'>;

export interface OpenLeaseInput {
  api: ApiClient;
  /** the paying key's sender (nonces in order) */
  sender: TxSender;
  chainId: string;
  /** the matched container (from `api.match`) */
  container: ContainerView;
  gpus: number;
  maxDurationSec: number;
  /** units per GPU-hour (per hour for CPU-only leases) */
  maxPricePerHour: bigint;
  workload: LeaseWorkload;
  /** env values: sealed here to the container's key; only it reads them */
  env?: Record<string, string>;
}

export interface OpenedLease {
  lease: string;
  /** units locked in the lease's escrow */
  escrow: string;
  /** units moved from the balance into escrow first (0n: the escrow balance sufficed) */
  deposited: bigint;
}

/**
 * Opens one lease on a matched container, as `rent` and `deploy` do: the env sealed to the
 * container's X25519 key (values never leave this machine in clear), the account's escrow topped
 * up to the most the lease may cost (price × GPUs × max duration), then `lease.open`.
 */
export async function openLease(i: OpenLeaseInput): Promise<OpenedLease> {
  const c = i.container;
  const user = i.sender.key.address;
  let sealedEnv: Record<string, string> | undefined;
  if (i.env && Object.keys(i.env).length) {
    if (!c.encKey)
      throw new AethirError(
        'INVALID_ARGUMENT',
        `container ${c.name} registered no encryption key, so it cannot receive env values; nothing was opened`,
      );
    sealedEnv = await sealEnv(i.env, c.encKey, { chainId: i.chainId, user, container: c.id });
  }
  const needed = (BigInt(c.pricePerHour) * BigInt(Math.max(1, i.gpus)) * BigInt(i.maxDurationSec)) / 3600n;
  const { escrow } = await i.api.account(user);
  const deposited = escrow < needed ? needed - escrow : 0n;
  if (deposited > 0n) await i.sender.send('escrow.deposit', { amount: deposited });
  const opened = await i.sender.send('lease.open', {
    container: c.id,
    gpus: i.gpus,
    maxDurationSec: i.maxDurationSec,
    maxPricePerHour: i.maxPricePerHour,
    workload: { ...i.workload, ...(sealedEnv ? { sealedEnv } : {}) },
  });
  return { lease: String(opened.result.lease), escrow: String(opened.result.escrow), deposited };
}
