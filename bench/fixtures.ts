import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../src/core/index.js';
import { startDevnetNode, type RunningNode } from '../src/node/index.js';
import { addressOf, ath, CITIES, sha256Hex, type Rng } from '../src/core/index.js';
import {
  newReputation,
  requiredStake,
  type Container,
  type Lease,
  type Params,
} from '../src/ledger/index.js';

/**
 * Synthetic but realistic records for the benchmarks: GPU models and memory as sold,
 * per-GPU-hour prices in the range public GPU clouds charged in 2025, hosts in the cities of
 * src/core/geo.ts. All of it is derived from a seeded Rng, so every run benchmarks the same data.
 */
interface Offer {
  model: string;
  memoryMiB: number;
  /** per GPU-hour, ATH */
  price: number;
  counts: number[];
  cpu: string;
}

const OFFERS: Offer[] = [
  {
    model: 'NVIDIA H100 80GB HBM3',
    memoryMiB: 81559,
    price: 2.4,
    counts: [1, 2, 4, 8, 8],
    cpu: 'AMD EPYC 9454',
  },
  { model: 'NVIDIA H200', memoryMiB: 143771, price: 3.2, counts: [8], cpu: 'Intel Xeon Platinum 8480+' },
  {
    model: 'NVIDIA A100-SXM4-80GB',
    memoryMiB: 81920,
    price: 1.4,
    counts: [1, 2, 4, 8],
    cpu: 'AMD EPYC 7763',
  },
  { model: 'NVIDIA L40S', memoryMiB: 46068, price: 0.9, counts: [1, 2, 4], cpu: 'AMD EPYC 7413' },
  {
    model: 'NVIDIA GeForce RTX 4090',
    memoryMiB: 24564,
    price: 0.6,
    counts: [1, 2, 4],
    cpu: 'AMD Ryzen 9 7950X',
  },
  {
    model: 'NVIDIA GeForce RTX 3090',
    memoryMiB: 24576,
    price: 0.35,
    counts: [1, 2],
    cpu: 'Intel Core i9-12900K',
  },
  { model: 'NVIDIA RTX A5000', memoryMiB: 24564, price: 0.45, counts: [1, 2, 4], cpu: 'Intel Xeon W-2255' },
  // CPU-only hosts: zero GPUs, priced per host-hour.
  { model: '', memoryMiB: 0, price: 0.08, counts: [0], cpu: 'AMD EPYC 7R13' },
];

/** A deterministic address for the i-th synthetic account of a namespace. */
export function syntheticAddress(ns: string, i: number): string {
  return addressOf(sha256Hex(`${ns}:${i}`));
}

export interface ContainerOptions {
  /** share of containers that are offline, pending or under-staked (never matchable) */
  unavailableShare?: number;
}

/**
 * A container record as the ledger holds it, online and staked (at the neutral staking
 * coefficient, 1.0) unless drawn unavailable.
 */
export function syntheticContainer(
  rng: Rng,
  i: number,
  params: Params,
  registeredAt: number,
  opts: ContainerOptions = {},
): Container {
  const offer = rng.pick(OFFERS);
  const count = rng.pick(offer.counts);
  const city = rng.pick(CITIES);
  // +-20% around the list price, in 1/1000 ATH steps
  const milli = Math.max(1, Math.round(offer.price * 1000 * (0.8 + 0.4 * rng.next())));
  const pricePerHour = (ath(1) * BigInt(milli)) / 1000n;
  const unavailable = rng.next() < (opts.unavailableShare ?? 0);
  const kind = unavailable ? rng.int(0, 2) : -1;
  const models = Array.from({ length: count }, () => offer.model);
  const stake = requiredStake(params, 10_000, models) + (kind === 2 ? -1n : ath(rng.int(0, 500)));
  const leased = count > 0 && rng.next() < 0.3 ? rng.int(0, count) : 0;
  const id = syntheticAddress('container', i);
  const slug = city.city.toLowerCase().replace(/[^a-z]+/g, '-');
  return {
    id,
    name: `bench-${slug}-${i}`,
    spec: {
      source: rng.next() < 0.5 ? 'probed' : 'declared',
      gpus: Array.from({ length: count }, (_, g) => ({
        model: offer.model,
        memoryMiB: offer.memoryMiB,
        uuid: `GPU-${sha256Hex(`${id}:${g}`).slice(0, 32)}`,
      })),
      cpu: { model: offer.cpu, cores: Math.max(4, count * 12) },
      memoryMiB: Math.max(16384, count * 65536),
      os: 'Ubuntu 22.04.4 LTS',
    },
    location: { city: city.city, country: city.country, region: city.region, lat: city.lat, lon: city.lon },
    pricePerHour,
    stake,
    unbonding: 0n,
    unbondingUntil: null,
    status: kind === 0 ? 'offline' : kind === 1 ? 'pending' : 'online',
    suspended: false,
    onlineSince: kind === 0 || kind === 1 ? null : registeredAt,
    gpusTotal: count,
    gpusLeased: leased,
    openLeases: leased > 0 ? 1 : 0,
    earned: ath(rng.int(0, 20_000)),
    epochDeliveredGpuMs: 0,
    qualityTier: 1,
    slashed: 0n,
    registeredAt,
    suspendedReason: null,
    checks: {},
    incidents: [],
    rep: newReputation(),
  };
}

/** A closed lease record, as they pile up in the state over time. */
export function syntheticLease(rng: Rng, i: number, container: string, user: string, at: number): Lease {
  const gpus = rng.int(0, 8);
  const price = (ath(1) * BigInt(rng.int(80, 3200))) / 1000n;
  const escrow = price * BigInt(Math.max(1, gpus)) * BigInt(rng.int(1, 48));
  const charged = (escrow * BigInt(rng.int(1, 100))) / 100n;
  const host = (charged * 8000n) / 10_000n;
  return {
    id: `L${i.toString(16).padStart(12, '0')}`,
    user,
    container,
    gpus,
    pricePerHour: price,
    maxDurationSec: 86_400,
    openEnded: false,
    workload: { command: ['python3', 'train.py', '--epochs', String(rng.int(1, 100))] },
    escrow,
    charged,
    hostShare: host,
    protocolShare: charged - host,
    openedAt: at - 3_600_000,
    settledAt: at,
    closedAt: at,
    status: 'closed',
    exitCode: 0,
    closeReason: 'closed by user',
    closedBy: user,
    lastReceiptSeq: 0,
    receiptServedMs: 0,
  };
}

/**
 * A devnet in this process on throwaway storage (any free port; `flags` over the defaults), for
 * benches that measure through a whole network; `stop()` ends it and removes its files.
 */
export async function benchDevnet(
  prefix: string,
  flags: Partial<Record<keyof Config, unknown>>,
): Promise<{ node: RunningNode; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `aethir-bench-${prefix}-`));
  const config = loadConfig({
    env: {},
    flags: { home: join(dir, 'home'), dataDir: join(dir, 'data'), port: 0, ...flags },
  });
  const node = await startDevnetNode({ config }).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    node,
    stop: async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
