import { ath } from '../core/amount.js';
import { SeededRng } from '../core/clock.js';
import { CITIES, type City } from '../core/geo.js';
import type { ContainerSpec } from '../ledger/modules/containers/payloads.js';

/**
 * Demo containers: SIMULATED GPU hosts so a local devnet looks like a network. Their specs
 * are realistic (GPU models and memory as sold; rental prices in the range public GPU
 * clouds charged in 2025 per GPU-hour), but no such hardware exists: every one is named
 * "sim-..." and carries `source: "simulated"` in its spec. They run workloads as real host
 * processes on this machine.
 */
interface Offer {
  model: string;
  memoryMiB: number;
  counts: number[];
  priceAth: string;
  cpu: string;
  coresPerGpu: number;
  ramPerGpuMiB: number;
}

const OFFERS: Offer[] = [
  {
    model: 'NVIDIA H100 80GB HBM3',
    memoryMiB: 81559,
    counts: [1, 8],
    priceAth: '2.4',
    cpu: 'AMD EPYC 9454',
    coresPerGpu: 12,
    ramPerGpuMiB: 245760,
  },
  {
    model: 'NVIDIA H200',
    memoryMiB: 143771,
    counts: [8],
    priceAth: '3.2',
    cpu: 'Intel Xeon Platinum 8480+',
    coresPerGpu: 14,
    ramPerGpuMiB: 262144,
  },
  {
    model: 'NVIDIA A100-SXM4-80GB',
    memoryMiB: 81920,
    counts: [1, 4, 8],
    priceAth: '1.4',
    cpu: 'AMD EPYC 7763',
    coresPerGpu: 16,
    ramPerGpuMiB: 131072,
  },
  {
    model: 'NVIDIA L40S',
    memoryMiB: 46068,
    counts: [1, 2, 4],
    priceAth: '0.9',
    cpu: 'AMD EPYC 7413',
    coresPerGpu: 8,
    ramPerGpuMiB: 65536,
  },
  {
    model: 'NVIDIA GeForce RTX 4090',
    memoryMiB: 24564,
    counts: [1, 2],
    priceAth: '0.6',
    cpu: 'AMD Ryzen 9 7950X',
    coresPerGpu: 8,
    ramPerGpuMiB: 32768,
  },
  {
    model: 'NVIDIA GeForce RTX 3090',
    memoryMiB: 24576,
    counts: [1, 2],
    priceAth: '0.35',
    cpu: 'Intel Core i9-12900K',
    coresPerGpu: 8,
    ramPerGpuMiB: 32768,
  },
  {
    model: 'NVIDIA RTX A5000',
    memoryMiB: 24564,
    counts: [1, 2],
    priceAth: '0.45',
    cpu: 'Intel Xeon W-2255',
    coresPerGpu: 6,
    ramPerGpuMiB: 32768,
  },
];

export interface DemoContainer {
  seedName: string;
  name: string;
  spec: ContainerSpec;
  city: City;
  pricePerHour: bigint;
}

export function demoContainers(n: number, seed = 'aethir-devnet-demo'): DemoContainer[] {
  const rng = new SeededRng(seed);
  const out: DemoContainer[] = [];
  for (let i = 0; i < n; i++) {
    const offer = rng.pick(OFFERS);
    const count = rng.pick(offer.counts);
    const city = rng.pick(CITIES);
    const slug = city.city.toLowerCase().replace(/[^a-z]+/g, '-');
    out.push({
      seedName: `demo-${i + 1}`,
      name: `sim-${slug}-${i + 1}`,
      city,
      pricePerHour: ath(offer.priceAth),
      spec: {
        source: 'simulated',
        gpus: Array.from({ length: count }, () => ({ model: offer.model, memoryMiB: offer.memoryMiB })),
        cpu: { model: `${offer.cpu} (simulated)`, cores: offer.coresPerGpu * count },
        memoryMiB: offer.ramPerGpuMiB * count,
        os: 'simulated',
      },
    });
  }
  return out;
}
