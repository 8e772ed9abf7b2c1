import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ath, CITIES, distanceKm, type Rng } from '../src/core/index.js';
import {
  newReputation,
  requiredStake,
  type Container,
  type ContainerSpec,
  type Params,
} from '../src/ledger/index.js';
import type { MatchRequest, Strategy } from '../src/indexer/index.js';

/**
 * Containers and requests for the indexer benchmark, drawn from real data when the workplace
 * has it (../shared/data, see its README):
 *
 * - GPU mixes: every row of Alibaba's GPU node tables (cluster-trace-gpu-v2023
 *   `openb_node_list_gpu_node.csv`, 1,213 nodes; cluster-trace-v2026-spot-gpu
 *   `node_info_df.csv`, 4,278 nodes) is a host: its GPU model and count; a container draws one
 *   row uniformly.
 * - places: the 246 WonderProxy servers (real datacentre cities, `rtt/wonderproxy`); a server's
 *   region is that of the nearest city of src/core/geo.ts.
 * - requests: the jobs of Alibaba's `openb_pod_list_*.csv` (GPUs 0–8 and, for a third of them,
 *   the GPU types they accept) and of Microsoft's Philly trace (`philly.csv`, GPUs per job), half
 *   and half. Jobs above 8 GPUs ask for 8 (the largest host; a bigger job spans hosts).
 *
 * What no trace says is drawn from a seeded Rng and documented here: prices (a list price per
 * GPU model ±20%), where users are, their latency bounds, budgets and strategies, the share of
 * containers offline, under-staked or busy. Without ../shared/data everything falls back to
 * synthetic mixes, and the benchmark says so.
 */

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const TRACES = `${DATA}gpu-cluster-trace/`;

interface GpuKind {
  /** the model as nvidia-smi would name it */
  model: string;
  memoryMiB: number;
  computeCapability?: string;
  /** list price, ATH per GPU-hour */
  price: number;
}

/**
 * The trace codes as GPU models. G1–G3 and GPU-series-1/2 are undisclosed in the traces: they
 * keep their code, an unknown compute capability and memory 0 (they match no VRAM minimum).
 */
const KINDS: Record<string, GpuKind> = {
  P100: { model: 'Tesla P100-PCIE-16GB', memoryMiB: 16_384, price: 0.2 },
  T4: { model: 'Tesla T4', memoryMiB: 15_360, price: 0.25 },
  V100M16: { model: 'Tesla V100-SXM2-16GB', memoryMiB: 16_384, price: 0.5 },
  V100M32: { model: 'Tesla V100-SXM2-32GB', memoryMiB: 32_768, price: 0.6 },
  A10: { model: 'NVIDIA A10', memoryMiB: 24_576, price: 0.5 },
  'A100-SXM4-80GB': { model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81_920, price: 1.4 },
  'A800-SXM4-80GB': { model: 'NVIDIA A800-SXM4-80GB', memoryMiB: 81_920, price: 1.3 },
  H800: { model: 'NVIDIA H800', memoryMiB: 81_559, price: 2.2 },
  G1: { model: 'Alibaba G1', memoryMiB: 0, price: 0.4 },
  G2: { model: 'Alibaba G2', memoryMiB: 0, price: 0.6 },
  G3: { model: 'Alibaba G3', memoryMiB: 0, price: 0.9 },
  'GPU-series-1': { model: 'Alibaba GPU-series-1', memoryMiB: 0, price: 0.8 },
  'GPU-series-2': { model: 'Alibaba GPU-series-2', memoryMiB: 0, price: 1.6 },
};

/** What a request's trace GPU type becomes: a whole-word model pattern. */
const PATTERN: Record<string, string> = {
  P100: 'P100',
  T4: 'T4',
  V100M16: 'V100-SXM2-16GB',
  V100M32: 'V100-SXM2-32GB',
  A10: 'A10',
  G1: 'G1',
  G2: 'G2',
  G3: 'G3',
};

/** Synthetic fallback: the hosts of bench/fixtures.ts, as (code, count) rows. */
const SYNTHETIC_KINDS: Record<string, GpuKind> = {
  H100: { model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81_559, price: 2.4 },
  H200: { model: 'NVIDIA H200', memoryMiB: 143_771, price: 3.2 },
  A100: { model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81_920, price: 1.4 },
  L40S: { model: 'NVIDIA L40S', memoryMiB: 46_068, price: 0.9 },
  '4090': { model: 'NVIDIA GeForce RTX 4090', memoryMiB: 24_564, price: 0.6 },
  '3090': { model: 'NVIDIA GeForce RTX 3090', memoryMiB: 24_576, price: 0.35 },
};

interface NodeRow {
  code: string;
  gpus: number;
}

interface JobRow {
  gpus: number;
  /** acceptable trace GPU types, if the job constrains them */
  types: string[] | null;
}

interface Place {
  location: Container['location'];
}

export interface BenchData {
  /** where the data came from, for the log */
  source: string;
  synthetic: boolean;
  nodes: NodeRow[];
  kinds: Record<string, GpuKind>;
  jobs: JobRow[];
  places: Place[];
}

function csv(path: string): { head: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  return { head: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

function col(t: { head: string[] }, name: string): number {
  const i = t.head.indexOf(name);
  if (i < 0) throw new Error(`column ${name} not found`);
  return i;
}

export function loadBenchData(log: (line: string) => void): BenchData {
  const places = loadPlaces();
  const files = {
    nodes2023: `${TRACES}alibaba-v2023/openb_node_list_gpu_node.csv`,
    nodes2026: `${TRACES}alibaba-v2026-spot/node_info_df.csv`,
    pods: [
      `${TRACES}alibaba-v2023/openb_pod_list_default.csv`,
      `${TRACES}alibaba-v2023/openb_pod_list_gpuspec33.csv`,
    ],
    philly: `${TRACES}philly-pollux/philly.csv`,
  };
  const all = [files.nodes2023, files.nodes2026, ...files.pods, files.philly];
  if (!all.every((f) => existsSync(f))) {
    log(
      `indexer: NOTICE: ${TRACES} not found (real traces live in ../shared/data, only in the Aethir ` +
        'workplace): using SYNTHETIC GPU mixes and requests',
    );
    return synthetic(places);
  }
  const nodes: NodeRow[] = [];
  const a = csv(files.nodes2023);
  for (const r of a.rows) nodes.push({ code: r[col(a, 'model')]!, gpus: Number(r[col(a, 'gpu')]) });
  const b = csv(files.nodes2026);
  for (const r of b.rows)
    nodes.push({ code: r[col(b, 'gpu_model')]!, gpus: Number(r[col(b, 'gpu_capacity_num')]) });
  const pods: JobRow[] = [];
  for (const f of files.pods) {
    const t = csv(f);
    for (const r of t.rows) {
      const spec = r[col(t, 'gpu_spec')]!.trim();
      const types = spec ? [...new Set(spec.split('|'))] : null;
      pods.push({ gpus: Number(r[col(t, 'num_gpu')]), types });
    }
  }
  const p = csv(files.philly);
  const philly: JobRow[] = p.rows
    .map((r) => Number(r[col(p, 'num_gpus')]))
    .filter((g) => Number.isInteger(g) && g > 0)
    .map((g) => ({ gpus: g, types: null }));
  // half and half: the Alibaba pods (16k) repeated to match Philly's 82k jobs
  const jobs: JobRow[] = [...philly];
  for (let i = 0; i < philly.length; i++) jobs.push(pods[i % pods.length]!);
  return {
    source:
      `${nodes.length} real GPU nodes (Alibaba v2023 + v2026-spot), ${pods.length} Alibaba pods + ` +
      `${philly.length} Philly jobs, ${places.length} ${places.length > CITIES.length ? 'WonderProxy server' : 'city'} locations`,
    synthetic: false,
    nodes: nodes.filter((n) => n.gpus > 0 && KINDS[n.code]),
    kinds: KINDS,
    jobs,
    places,
  };
}

function synthetic(places: Place[]): BenchData {
  const nodes: NodeRow[] = [];
  const mix: Array<[string, number, number]> = [
    ['H100', 8, 3],
    ['H100', 1, 2],
    ['H200', 8, 1],
    ['A100', 8, 3],
    ['A100', 2, 2],
    ['L40S', 4, 3],
    ['4090', 1, 8],
    ['4090', 2, 4],
    ['3090', 1, 6],
  ];
  for (const [code, gpus, weight] of mix) for (let i = 0; i < weight; i++) nodes.push({ code, gpus });
  const jobs: JobRow[] = [];
  for (const [gpus, weight] of [
    [0, 1],
    [1, 14],
    [2, 2],
    [4, 2],
    [8, 1],
  ] as const)
    for (let i = 0; i < weight; i++)
      jobs.push({ gpus, types: null }, { gpus, types: gpus ? ['H100', 'A100'] : null });
  return {
    source: `SYNTHETIC: ${nodes.length} node rows, ${jobs.length} job rows, ${places.length} places`,
    synthetic: true,
    nodes,
    kinds: SYNTHETIC_KINDS,
    jobs,
    places,
  };
}

/** WonderProxy's servers (real datacentre places), each with the region of its nearest city. */
function loadPlaces(): Place[] {
  const file = `${DATA}rtt/wonderproxy/servers-2020-07-19.csv`;
  const fromCities = () =>
    CITIES.map((c) => ({
      location: { city: c.city, country: c.country, region: c.region, lat: c.lat, lon: c.lon },
    }));
  if (!existsSync(file)) return fromCities();
  const t = csv(file);
  const out: Place[] = [];
  for (const r of t.rows) {
    const lat = Number(r[col(t, 'latitude')]);
    const lon = Number(r[col(t, 'longitude')]);
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
    let best = CITIES[0]!;
    for (const c of CITIES) if (distanceKm(c, { lat, lon }) < distanceKm(best, { lat, lon })) best = c;
    const name = (r[col(t, 'title')] ?? '').replace(/[^\p{L}\p{N} .'-]/gu, '').slice(0, 80) || best.city;
    out.push({ location: { city: name, country: best.country, region: best.region, lat, lon } });
  }
  return out.length ? out : fromCities();
}

/**
 * n containers as the ledger would hold them: specs are shared between containers of the same
 * hardware (as a ledger that interns them would), so a million fit in memory.
 * Drawn: 3% offline, 2% pending, 1% suspended, 1% unbonding, 2% under-staked; 30% of hosts have
 * some GPUs leased; quality tier 1 (70%), 2 (20%), 3 (10%); price = list price ±20%.
 */
export function benchContainers(
  data: BenchData,
  rng: Rng,
  n: number,
  params: Params,
  at: number,
): Container[] {
  const specs = new Map<string, ContainerSpec>();
  const stakes = new Map<ContainerSpec, bigint>();
  const out: Container[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const node = rng.pick(data.nodes);
    const kind = data.kinds[node.code]!;
    const key = `${node.code}x${node.gpus}`;
    let spec = specs.get(key);
    if (!spec) {
      spec = {
        gpus: Array.from({ length: node.gpus }, () => ({
          model: kind.model,
          memoryMiB: kind.memoryMiB,
          ...(kind.computeCapability ? { computeCapability: kind.computeCapability } : {}),
        })),
        cpu: { model: 'x86_64', cores: Math.max(8, node.gpus * 12) },
        memoryMiB: Math.max(16_384, node.gpus * 65_536),
        source: 'declared',
      };
      specs.set(key, spec);
      stakes.set(
        spec,
        requiredStake(
          params,
          10_000,
          spec.gpus.map((g) => g.model),
        ),
      );
    }
    const place = rng.pick(data.places);
    const r = rng.next();
    const milli = Math.max(1, Math.round(kind.price * 1000 * (0.8 + 0.4 * rng.next())));
    const leased = rng.next() < 0.3 ? rng.int(0, node.gpus) : 0;
    const id = `ath1${i.toString(16).padStart(40, '0')}`;
    const q = rng.next();
    out[i] = {
      id,
      name: id,
      spec,
      location: place.location,
      pricePerHour: (ath(1) * BigInt(milli)) / 1000n,
      stake: stakes.get(spec)! + (r >= 0.07 && r < 0.09 ? -1n : 0n),
      unbonding: r >= 0.06 && r < 0.07 ? ath(1) : 0n,
      unbondingUntil: null,
      status: r < 0.03 ? 'offline' : r < 0.05 ? 'pending' : 'online',
      suspended: r >= 0.05 && r < 0.06,
      onlineSince: at,
      gpusTotal: node.gpus,
      gpusLeased: leased,
      openLeases: leased > 0 ? 1 : 0,
      earned: 0n,
      epochDeliveredGpuMs: 0,
      qualityTier: q < 0.7 ? 1 : q < 0.9 ? 2 : 3,
      slashed: 0n,
      registeredAt: at,
      suspendedReason: null,
      checks: {},
      incidents: [],
      rep: newReputation(),
    };
  }
  return out;
}

/**
 * Requests from the job traces. Drawn: users at a WonderProxy place (60% say where they are;
 * half of those bound the latency at 30/50/80/150 ms), 15% restrict the region to theirs, 30%
 * cap the price at 0.5–2× the list price of what they asked (or 1 ATH), 10% ask for a minimum
 * VRAM; strategies lowest-fee 60%, best-experience 20%, balanced 20%.
 */
export function benchRequests(data: BenchData, rng: Rng, n: number): MatchRequest[] {
  const users = Array.from(
    { length: 64 },
    (_, i) => `ath1${(0xbe000000 + i).toString(16).padStart(40, '0')}`,
  );
  const strategies: Strategy[] = ['lowest-fee', 'lowest-fee', 'lowest-fee', 'best-experience', 'balanced'];
  const out: MatchRequest[] = [];
  for (let i = 0; i < n; i++) {
    const job = rng.pick(data.jobs);
    const req: MatchRequest = {
      user: rng.pick(users),
      gpus: Math.min(8, job.gpus),
      strategy: rng.pick(strategies),
    };
    let listPrice = 1;
    if (job.types && req.gpus > 0) {
      const patterns = job.types.map((t) => PATTERN[t]).filter((p): p is string => !!p);
      if (patterns.length) req.gpuModels = patterns;
      const prices = job.types.map((t) => data.kinds[t]?.price).filter((p): p is number => p !== undefined);
      if (prices.length) listPrice = Math.max(...prices);
    }
    const place = rng.pick(data.places).location;
    if (rng.next() < 0.6) {
      req.location = { lat: place.lat, lon: place.lon };
      if (rng.next() < 0.5) req.maxLatencyMs = rng.pick([30, 50, 80, 150]);
    }
    if (rng.next() < 0.15) req.region = place.region;
    if (rng.next() < 0.3)
      req.maxPricePerHour =
        (ath(1) * BigInt(Math.round(listPrice * (0.5 + 1.5 * rng.next()) * 1000))) / 1000n;
    if (req.gpus > 0 && rng.next() < 0.1) req.minVramMiB = rng.pick([16_000, 32_000, 80_000]);
    out.push(req);
  }
  return out;
}
