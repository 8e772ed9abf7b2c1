import { haversineKm, rttForKm } from '../core/latency.js';
import type { Container } from '../ledger/model.js';
import type { ContainerSpec } from '../ledger/modules/containers/payloads.js';
import {
  better,
  costOf,
  imageCost,
  hardwareOf,
  latencyBoundOf,
  modelMatches,
  priceAthOf,
  relaxation,
  RULED_OUT_ORDER,
  sortRelaxations,
  type Hardware,
  type NormalizedRequest,
  type Reason,
  type Relaxation,
  type Weights,
  hostSizeOk,
} from './request.js';
import type { ReferenceEntry } from './reference.js';

/**
 * The index. Every container has a slot in struct-of-arrays columns (typed arrays); every
 * matchable one sits in exactly one **bucket**, and buckets hang in two hierarchies:
 *
 *   profile → class (free GPUs) → group (region × quality tier) → bucket (one per cell)
 *   cell (region × 4°×4° square) → buckets (one per group present there)
 *
 * - a *profile* is a distinct hardware (the multiset of GPU models, the smallest VRAM and
 *   compute capability): hardware constraints are decided once per profile per request;
 * - *free GPUs* (min(ledger, heartbeat) − reservations) are part of the key: a request for g GPUs
 *   never looks at a container with fewer;
 * - a *cell* has a centre and a radius: the latency bound is decided per cell (all in, all out,
 *   or at the edge, then per container), and a region's cells give it a centre and radius too;
 * - a bucket keeps its containers sorted by (price, exact price, id); groups, classes and cells
 *   keep their first container in that order (and its price), maintained on every change.
 *
 * A match is a best-first search on a lower bound of the strategy's cost, ties broken by
 * (price, id) as the strategies rank. When latency is part of the cost it starts from the cells
 * (near and cheap first), else from the classes (cheap first); an entry popped from the heap is
 * expanded into what it holds (class → groups → buckets, cell → buckets, bucket → containers)
 * until no entry left can beat the best found. Only app, stake and reputation are checked one
 * container at a time. Upserts, heartbeats and reservations update the columns and move a
 * container between buckets (binary search + shift); containers whose heartbeat goes stale
 * leave their bucket through an expiry heap (time must not go backwards).
 */

const STATE_IN = 0;
const STATE_OFFLINE = 1;
const STATE_SUSPENDED = 2;
const STATE_UNBONDING = 3;

const CELL_DEGREES = 4;
/** margin on distance bounds: far above the rounding error of haversine (≈1e-8 km) */
const EPS_KM = 1e-3;
const FREE_UNKNOWN = 255;
const MAX_GPUS = 64;

const CELL_IN = 0;
const CELL_EDGE = 1;
const CELL_REGION = 2;
const CELL_LATENCY = 3;

/** search heap entries: id × 4 + kind */
const K_CELL = 0;
const K_GROUP = 1;
const K_BUCKET = 2;
const K_CLASS = 3;

const REASON_CODE = new Map<Reason, number>(RULED_OUT_ORDER.map((r, i) => [r, i]));
const R = (r: Reason) => REASON_CODE.get(r)!;
const R_GPU_MODEL = R('gpu model');
const R_VRAM = R('VRAM');
const R_CC = R('compute capability');
const R_COUNT = R('not enough GPUs');
const R_REGION = R('region');
const R_BUSY = R('GPUs busy');
const R_LATENCY = R('latency');
const R_PRICE = R('price above budget');
const R_APP = R('app not installed');
const R_STAKE = R('stake below requirement');
const R_REPUTATION = R('reputation');
const R_ISOLATION = R('not sandboxed');
const R_NO_DOCKER = R('no Docker engine');
const R_HOST_SIZE = R('cpu or memory');

const MIN_LATENCY: Weights = { fee: 0, latency: 1, quality: 0 };
const MIN_PRICE: Weights = { fee: 1, latency: 0, quality: 0 };

export interface StoreDeps {
  offlineAfterMs: number;
  requiredStake: (c: Container) => bigint;
  stakeVersion?: () => unknown;
  reputation: (c: Container) => number;
  appsOf: (c: Container) => readonly string[];
}

interface Profile {
  hw: Hardware;
  /** distinct model ids */
  modelIds: number[];
  /** a container with this hardware: the stake requirement depends on the GPU models only */
  rep: Container;
  /** containers of this profile in buckets */
  count: number;
  groups: number[];
  classes: number[];
  stakeReq: bigint;
  stakeReqF: number;
  stakeReqExact: boolean;
  /** the stake version (or match number) the requirement was computed for */
  stakeStamp: unknown;
}

interface Region {
  name: string;
  cells: number[];
  lat: number;
  lon: number;
  radius: number;
}

const REGION_OUT = 0;
const REGION_OK = 1;
const REGION_TOO_FAR = 2;

/** A request prepared against the index: what each profile says to it (cells and regions: lazily). */
interface Query {
  q: NormalizedRequest;
  seq: number;
  weights: Readonly<Weights>;
  refPriceAth: number;
  refLatencyMs: number;
  maxPriceF: number;
  /** per profile: 0 passes, else 1 + reason code */
  profileCode: Uint8Array;
  okProfiles: number[];
  /** per region: REGION_OK, REGION_OUT (prefix) or REGION_TOO_FAR (wholly beyond the latency bound) */
  region: Uint8Array;
}

export interface SearchResult {
  slot: number;
  latencyMs: number | null;
}

function growF64(a: Float64Array, n: number, fill = 0): Float64Array<ArrayBuffer> {
  const b = new Float64Array(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
function growI32(a: Int32Array, n: number, fill = 0): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
function growU8(a: Uint8Array, n: number, fill = 0): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

export class IndexStore {
  // ---- slots (one per container) ----
  private n = 0;
  private cap = 0;
  readonly ids: string[] = [];
  readonly objs: Container[] = [];
  private readonly slotOf = new Map<string, number>();
  private price = new Float64Array(0);
  private stake = new Float64Array(0);
  /** 1 when the stake is exactly the float in `stake` (then floats compare exactly) */
  private stakeExact = new Uint8Array(0);
  private lat = new Float64Array(0);
  private lon = new Float64Array(0);
  private lastHb = new Float64Array(0);
  private rep = new Float64Array(0);
  private profile = new Int32Array(0);
  private cell = new Int32Array(0);
  private bucket = new Int32Array(0);
  private heapPos = new Int32Array(0);
  private ledgerFree = new Uint8Array(0);
  private hbFree = new Uint8Array(0);
  private reserved = new Uint8Array(0);
  private free = new Uint8Array(0);
  private tier = new Uint8Array(0);
  /** the quality tier as the ledger has it (the cost uses it as is; `tier` is its bucket key) */
  private quality = new Float64Array(0);
  private state = new Uint8Array(0);
  private readonly apps = new Map<number, readonly string[]>();
  private readonly appCount = new Map<string, number>();
  /** apps a container reports ready in its heartbeats (on top of `deps.appsOf`) */
  private readonly reportedApps = new Map<number, readonly string[]>();
  /** containers whose heartbeats say they run workloads on a Docker engine, with the images they have cached */
  private readonly dockerImages = new Map<number, readonly string[]>();
  private readonly stateCount = [0, 0, 0, 0];

  // ---- profiles, models, regions ----
  private readonly profiles: Profile[] = [];
  private readonly profileOf = new Map<string, number>();
  private readonly hwCache = new WeakMap<ContainerSpec, { hw: Hardware; key: string }>();
  private readonly models: string[] = [];
  private readonly modelOf = new Map<string, number>();
  private readonly regions: Region[] = [];
  private readonly regionOf = new Map<string, number>();

  // ---- cells ----
  private nC = 0;
  private readonly cellOf = new Map<number, number>();
  private cRegion = new Int32Array(0);
  private cLat = new Float64Array(0);
  private cLon = new Float64Array(0);
  private cRadius = new Float64Array(0);
  private cCount = new Int32Array(0);
  private cMin = new Float64Array(0);
  private cMinB = new Int32Array(0);
  private cMaxTier = new Uint8Array(0);
  private readonly cBuckets: number[][] = [];
  private cStamp = new Int32Array(0);
  private cCode = new Uint8Array(0);
  private cMinLat = new Float64Array(0);
  /** the estimated RTT to the cell's centre: containers exactly there need no haversine */
  private cCentreLat = new Float64Array(0);

  // ---- classes: profile × free ----
  private nK = 0;
  private readonly classOf = new Map<number, number>();
  private kFree = new Uint8Array(0);
  private kCount = new Int32Array(0);
  private kMin = new Float64Array(0);
  private kMinG = new Int32Array(0);
  private kMaxTier = new Uint8Array(0);
  private readonly kGroups: number[][] = [];

  // ---- groups: profile × region × tier × free ----
  private nG = 0;
  private readonly groupOf = new Map<number, number>();
  private gProfile = new Int32Array(0);
  private gRegion = new Int32Array(0);
  private gTier = new Uint8Array(0);
  private gFree = new Uint8Array(0);
  private gClass = new Int32Array(0);
  private gCount = new Int32Array(0);
  private gMin = new Float64Array(0);
  private gMinB = new Int32Array(0);
  private readonly gBuckets: number[][] = [];

  // ---- buckets: group × cell ----
  private nB = 0;
  private readonly bucketOf = new Map<number, number>();
  private readonly bMembers: Int32Array[] = [];
  private bLen = new Int32Array(0);
  private bGroup = new Int32Array(0);
  private bCell = new Int32Array(0);
  private bHead = new Float64Array(0);
  /** the first container of each bucket, -1 when empty (kept with bHead) */
  private bHeadSlot = new Int32Array(0);
  private bDirty = new Uint8Array(0);
  private bulkMode = false;

  // ---- stale-heartbeat expiry heap (min lastHb) ----
  private heap = new Int32Array(0);
  private heapSize = 0;

  // ---- per-query scratch ----
  private seq = 0;
  private matchSeq = 0;
  private stakeStampNow: unknown = 0;
  private modelOk = new Uint8Array(0);
  private hb = new Int32Array(64);
  private hk = new Float64Array(64);
  /** the first container under each heap entry: ties on cost are broken by (price, id) */
  private hs = new Int32Array(64);
  private hn = 0;

  constructor(private readonly deps: StoreDeps) {}

  size(): number {
    return this.n;
  }

  stats(): {
    containers: number;
    inIndex: number;
    profiles: number;
    classes: number;
    groups: number;
    cells: number;
    buckets: number;
  } {
    return {
      containers: this.n,
      inIndex: this.stateCount[STATE_IN]!,
      profiles: this.profiles.length,
      classes: this.nK,
      groups: this.nG,
      cells: this.nC,
      buckets: this.nB,
    };
  }

  slot(id: string): number | undefined {
    return this.slotOf.get(id);
  }

  reputationOf(slot: number): number {
    return this.rep[slot]!;
  }

  /** The images a Docker-engine container reports cached (undefined: not a Docker-engine container). */
  imagesOf(slot: number): readonly string[] | undefined {
    return this.dockerImages.get(slot);
  }

  /** Inside, insertions append and buckets are sorted once at the end: for (re)building. */
  bulk(fn: () => void): void {
    const was = this.bulkMode;
    this.bulkMode = true;
    try {
      fn();
    } finally {
      this.bulkMode = was;
      if (!was) {
        for (let b = 0; b < this.nB; b++) if (this.bDirty[b]) this.sortBucket(b);
        for (let b = 0; b < this.nB; b++) {
          this.bHeadSlot[b] = this.bLen[b] ? this.bMembers[b]![0]! : -1;
          this.bHead[b] = this.bLen[b] ? this.price[this.bMembers[b]![0]!]! : Infinity;
        }
        for (let g = 0; g < this.nG; g++) this.rescanGroup(g);
        for (let k = 0; k < this.nK; k++) this.rescanClass(k);
        for (let c = 0; c < this.nC; c++) this.rescanCell(c);
      }
    }
  }

  // ---- updates ----

  upsert(c: Container, now: number): void {
    let s = this.slotOf.get(c.id);
    const isNew = s === undefined;
    if (s === undefined) s = this.allocate(c);
    else if (this.bucket[s]! >= 0) this.removeFromBucket(s);
    const { hw, key } = this.hardware(c);
    let p = this.profileOf.get(key);
    if (p === undefined) {
      p = this.profiles.length;
      this.profileOf.set(key, p);
      this.profiles.push({
        hw,
        modelIds: hw.distinct.map((m) => this.modelId(m)),
        rep: c,
        count: 0,
        groups: [],
        classes: [],
        stakeReq: 0n,
        stakeReqF: 0,
        stakeReqExact: false,
        stakeStamp: undefined,
      });
    }
    this.profile[s] = p;
    this.cell[s] = this.cellFor(c);
    this.objs[s] = c;
    this.price[s] = priceAthOf(c.pricePerHour);
    const sf = Number(c.stake);
    this.stake[s] = sf;
    this.stakeExact[s] = Number.isSafeInteger(sf) || BigInt(sf) === c.stake ? 1 : 0;
    this.lat[s] = c.location.lat;
    this.lon[s] = c.location.lon;
    this.rep[s] = this.deps.reputation(c);
    this.tier[s] = Math.ceil(Math.min(3, Math.max(1, c.qualityTier)));
    this.quality[s] = c.qualityTier;
    const total = hw.models.length;
    // GPUs a reservation booked are no one else's (ReservationOpened/Closed change the container)
    this.ledgerFree[s] = Math.max(0, Math.min(total, c.gpusTotal) - c.gpusLeased - (c.gpusReserved ?? 0));
    this.setApps(s, this.appsFor(s, c));
    if (isNew) this.stateCount[STATE_OFFLINE]!++;
    this.refresh(s, now);
  }

  /** `apps`: the apps the container reports ready (absent: none); each heartbeat replaces the last list */
  heartbeat(
    id: string,
    at: number,
    freeGpus: number | undefined,
    now: number,
    apps?: readonly string[],
    docker?: { images: readonly string[] },
  ): void {
    const s = this.slotOf.get(id);
    if (s === undefined || !(at > this.lastHb[s]!)) return;
    this.lastHb[s] = at;
    if (docker) this.dockerImages.set(s, docker.images);
    else this.dockerImages.delete(s);
    const before = this.reportedApps.get(s);
    if (!sameList(before, apps)) {
      if (apps?.length) this.reportedApps.set(s, [...apps]);
      else this.reportedApps.delete(s);
      this.setApps(s, this.appsFor(s, this.objs[s]!));
    }
    if (freeGpus !== undefined && Number.isFinite(freeGpus))
      this.hbFree[s] = Math.max(0, Math.min(MAX_GPUS, Math.floor(freeGpus)));
    this.heapUpdate(s);
    this.refresh(s, now);
  }

  setReserved(slot: number, gpus: number, now: number): void {
    this.reserved[slot] = Math.max(0, Math.min(255, gpus));
    this.refresh(slot, now);
  }

  /** free GPUs of a slot as the index counts them: min(ledger, heartbeat) − reserved */
  freeOf(slot: number): number {
    return this.free[slot]!;
  }

  reservedOf(slot: number): number {
    return this.reserved[slot]!;
  }

  /**
   * A slot as the plain matcher sees it (reference.ts), with `extraGpus` more free (the GPUs
   * of interruptible leases a request would preempt): min(ledger, heartbeat) + extra − reserved.
   */
  entryWith(slot: number, extraGpus: number): ReferenceEntry {
    const hbf = this.hbFree[slot]!;
    const lf = this.ledgerFree[slot]!;
    const base = hbf === FREE_UNKNOWN ? lf : Math.min(lf, hbf);
    const hb = this.lastHb[slot]!;
    const images = this.dockerImages.get(slot);
    return {
      c: this.objs[slot]!,
      lastHeartbeat: hb > Number.NEGATIVE_INFINITY ? hb : null,
      freeGpus: Math.max(0, Math.min(MAX_GPUS, base + extraGpus - this.reserved[slot]!)),
      reputation: this.rep[slot]!,
      apps: this.apps.get(slot) ?? [],
      ...(images ? { docker: true, images } : {}),
    };
  }

  /** Containers whose last heartbeat is older than offlineAfterMs leave their bucket. */
  advance(now: number): void {
    const limit = now - this.deps.offlineAfterMs;
    while (this.heapSize > 0 && this.lastHb[this.heap[0]!]! < limit) this.refresh(this.heapPop(), now);
  }

  private allocate(c: Container): number {
    if (this.n === this.cap) {
      const cap = Math.max(64, this.cap * 2);
      this.price = growF64(this.price, cap);
      this.stake = growF64(this.stake, cap);
      this.stakeExact = growU8(this.stakeExact, cap);
      this.lat = growF64(this.lat, cap);
      this.lon = growF64(this.lon, cap);
      this.lastHb = growF64(this.lastHb, cap, -Infinity);
      this.rep = growF64(this.rep, cap);
      this.profile = growI32(this.profile, cap);
      this.cell = growI32(this.cell, cap);
      this.bucket = growI32(this.bucket, cap, -1);
      this.heapPos = growI32(this.heapPos, cap, -1);
      this.heap = growI32(this.heap, cap);
      this.ledgerFree = growU8(this.ledgerFree, cap);
      this.hbFree = growU8(this.hbFree, cap, FREE_UNKNOWN);
      this.reserved = growU8(this.reserved, cap);
      this.free = growU8(this.free, cap);
      this.tier = growU8(this.tier, cap);
      this.quality = growF64(this.quality, cap);
      this.state = growU8(this.state, cap, STATE_OFFLINE);
      this.cap = cap;
    }
    const s = this.n++;
    this.ids.push(c.id);
    this.objs.push(c);
    this.slotOf.set(c.id, s);
    return s;
  }

  private hardware(c: Container): { hw: Hardware; key: string } {
    let h = this.hwCache.get(c.spec);
    if (!h) {
      const hw = hardwareOf(c);
      h = { hw, key: `${hw.models.join('\u0001')}\u0002${hw.minVramMiB}\u0002${hw.minCc10}` };
      this.hwCache.set(c.spec, h);
    }
    return h;
  }

  private modelId(m: string): number {
    let id = this.modelOf.get(m);
    if (id === undefined) {
      id = this.models.length;
      this.models.push(m);
      this.modelOf.set(m, id);
    }
    return id;
  }

  private regionId(name: string): number {
    let r = this.regionOf.get(name);
    if (r === undefined) {
      r = this.regions.length;
      this.regions.push({ name, cells: [], lat: 0, lon: 0, radius: 0 });
      this.regionOf.set(name, r);
    }
    return r;
  }

  private cellFor(c: Container): number {
    const r = this.regionId(c.location.region);
    const { lat, lon } = c.location;
    // region × grid square as one number (4° squares: 46 × 91, each index below 128)
    const key =
      (r * 128 + Math.floor((lat + 90) / CELL_DEGREES)) * 128 + Math.floor((lon + 180) / CELL_DEGREES);
    let id = this.cellOf.get(key);
    if (id === undefined) {
      id = this.nC++;
      if (id >= this.cRegion.length) {
        const cap = Math.max(16, this.cRegion.length * 2);
        this.cRegion = growI32(this.cRegion, cap);
        this.cLat = growF64(this.cLat, cap);
        this.cLon = growF64(this.cLon, cap);
        this.cRadius = growF64(this.cRadius, cap);
        this.cCount = growI32(this.cCount, cap);
        this.cMin = growF64(this.cMin, cap, Infinity);
        this.cMinB = growI32(this.cMinB, cap, -1);
        this.cMaxTier = growU8(this.cMaxTier, cap);
        this.cStamp = growI32(this.cStamp, cap, -1);
        this.cCode = growU8(this.cCode, cap);
        this.cMinLat = growF64(this.cMinLat, cap);
        this.cCentreLat = growF64(this.cCentreLat, cap);
      }
      this.cellOf.set(key, id);
      this.cRegion[id] = r;
      this.cLat[id] = lat;
      this.cLon[id] = lon;
      this.cBuckets.push([]);
      const reg = this.regions[r]!;
      if (reg.cells.length === 0) {
        reg.lat = lat;
        reg.lon = lon;
      }
      reg.cells.push(id);
      this.growRegion(r, id);
    } else {
      const d = haversineKm(this.cLat[id]!, this.cLon[id]!, lat, lon);
      if (d > this.cRadius[id]!) {
        this.cRadius[id] = d;
        this.cStamp[id] = -1;
        this.growRegion(r, id);
      }
    }
    return id;
  }

  /** a region's radius covers each of its cells (centre distance + cell radius) */
  private growRegion(r: number, c: number): void {
    const reg = this.regions[r]!;
    const d = haversineKm(reg.lat, reg.lon, this.cLat[c]!, this.cLon[c]!) + this.cRadius[c]!;
    if (d > reg.radius) reg.radius = d;
  }

  private appsFor(s: number, c: Container): readonly string[] {
    const reported = this.reportedApps.get(s);
    const declared = this.deps.appsOf(c);
    return reported ? [...declared, ...reported] : declared;
  }

  private setApps(s: number, apps: readonly string[]): void {
    const old = this.apps.get(s);
    if (old) for (const a of old) this.appCount.set(a, this.appCount.get(a)! - 1);
    if (apps.length) {
      const list = [...new Set(apps)];
      this.apps.set(s, list);
      for (const a of list) this.appCount.set(a, (this.appCount.get(a) ?? 0) + 1);
    } else this.apps.delete(s);
  }

  /** Recomputes a slot's standing and free GPUs, and moves it to the bucket they call for. */
  private refresh(s: number, now: number): void {
    const c = this.objs[s]!;
    const st =
      c.status !== 'online' || now - this.lastHb[s]! > this.deps.offlineAfterMs
        ? STATE_OFFLINE
        : c.suspended
          ? STATE_SUSPENDED
          : c.unbonding > 0n
            ? STATE_UNBONDING
            : STATE_IN;
    const prev = this.state[s]!;
    if (st !== prev) {
      this.stateCount[prev]!--;
      this.stateCount[st]!++;
      this.state[s] = st;
    }
    const hbf = this.hbFree[s]!;
    const lf = this.ledgerFree[s]!;
    const free = Math.max(
      0,
      Math.min(MAX_GPUS, (hbf === FREE_UNKNOWN ? lf : Math.min(lf, hbf)) - this.reserved[s]!),
    );
    const b = this.bucket[s]!;
    if (st === STATE_IN) {
      if (b >= 0 && this.free[s] === free) return;
      if (b >= 0) this.removeFromBucket(s);
      this.free[s] = free;
      this.addToBucket(s);
    } else {
      this.free[s] = free;
      if (b >= 0) this.removeFromBucket(s);
    }
  }

  // ---- groups, cells, buckets ----

  /** bucket order: price, exact price, id */
  private cmp(a: number, b: number): number {
    const pa = this.price[a]!;
    const pb = this.price[b]!;
    if (pa !== pb) return pa < pb ? -1 : 1;
    const ea = this.objs[a]!.pricePerHour;
    const eb = this.objs[b]!.pricePerHour;
    if (ea !== eb) return ea < eb ? -1 : 1;
    const ia = this.ids[a]!;
    const ib = this.ids[b]!;
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  }

  private groupFor(p: number, r: number, t: number, f: number): number {
    const key = ((p * 4096 + r) * 4 + t) * 65 + f;
    let g = this.groupOf.get(key);
    if (g === undefined) {
      g = this.nG++;
      if (g >= this.gProfile.length) {
        const cap = Math.max(64, this.gProfile.length * 2);
        this.gProfile = growI32(this.gProfile, cap);
        this.gRegion = growI32(this.gRegion, cap);
        this.gTier = growU8(this.gTier, cap);
        this.gFree = growU8(this.gFree, cap);
        this.gClass = growI32(this.gClass, cap);
        this.gCount = growI32(this.gCount, cap);
        this.gMin = growF64(this.gMin, cap, Infinity);
        this.gMinB = growI32(this.gMinB, cap, -1);
      }
      this.groupOf.set(key, g);
      this.gProfile[g] = p;
      this.gRegion[g] = r;
      this.gTier[g] = t;
      this.gFree[g] = f;
      this.gBuckets.push([]);
      this.profiles[p]!.groups.push(g);
      const k = this.classFor(p, f);
      this.gClass[g] = k;
      this.kGroups[k]!.push(g);
      if (t > this.kMaxTier[k]!) this.kMaxTier[k] = t;
    }
    return g;
  }

  private classFor(p: number, f: number): number {
    const key = p * 65 + f;
    let k = this.classOf.get(key);
    if (k === undefined) {
      k = this.nK++;
      if (k >= this.kFree.length) {
        const cap = Math.max(64, this.kFree.length * 2);
        this.kFree = growU8(this.kFree, cap);
        this.kCount = growI32(this.kCount, cap);
        this.kMin = growF64(this.kMin, cap, Infinity);
        this.kMinG = growI32(this.kMinG, cap, -1);
        this.kMaxTier = growU8(this.kMaxTier, cap);
      }
      this.classOf.set(key, k);
      this.kFree[k] = f;
      this.kGroups.push([]);
      this.profiles[p]!.classes.push(k);
    }
    return k;
  }

  private bucketFor(g: number, c: number): number {
    const key = g * 4194304 + c;
    let b = this.bucketOf.get(key);
    if (b === undefined) {
      b = this.nB++;
      if (b >= this.bLen.length) {
        const cap = Math.max(64, this.bLen.length * 2);
        this.bLen = growI32(this.bLen, cap);
        this.bGroup = growI32(this.bGroup, cap);
        this.bCell = growI32(this.bCell, cap);
        this.bHead = growF64(this.bHead, cap, Infinity);
        this.bHeadSlot = growI32(this.bHeadSlot, cap, -1);
        this.bDirty = growU8(this.bDirty, cap);
      }
      this.bucketOf.set(key, b);
      this.bMembers.push(new Int32Array(4));
      this.bGroup[b] = g;
      this.bCell[b] = c;
      this.gBuckets[g]!.push(b);
      this.cBuckets[c]!.push(b);
    }
    return b;
  }

  private addToBucket(s: number): void {
    const p = this.profile[s]!;
    const cl = this.cell[s]!;
    const t = this.tier[s]!;
    const g = this.groupFor(p, this.cRegion[cl]!, t, this.free[s]!);
    const b = this.bucketFor(g, cl);
    let m = this.bMembers[b]!;
    const len = this.bLen[b]!;
    if (len === m.length) {
      const grown = new Int32Array(m.length * 2);
      grown.set(m);
      this.bMembers[b] = m = grown;
    }
    this.bLen[b] = len + 1;
    this.bucket[s] = b;
    this.profiles[p]!.count++;
    this.gCount[g]!++;
    this.kCount[this.gClass[g]!]!++;
    this.cCount[cl]!++;
    if (t > this.cMaxTier[cl]!) this.cMaxTier[cl] = t;
    if (this.bulkMode || this.bDirty[b]) {
      m[len] = s;
      this.bDirty[b] = 1;
      return;
    }
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(m[mid]!, s) < 0) lo = mid + 1;
      else hi = mid;
    }
    m.copyWithin(lo + 1, lo, len);
    m[lo] = s;
    if (lo === 0) this.headChanged(b);
  }

  private removeFromBucket(s: number): void {
    const b = this.bucket[s]!;
    const m = this.bMembers[b]!;
    const len = this.bLen[b]!;
    let at = -1;
    if (this.bDirty[b]) {
      at = m.subarray(0, len).indexOf(s);
    } else {
      let lo = 0;
      let hi = len;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.cmp(m[mid]!, s) < 0) lo = mid + 1;
        else hi = mid;
      }
      at = lo;
    }
    if (at < 0 || at >= len || m[at] !== s) throw new Error(`index corrupt: slot ${s} not in bucket ${b}`);
    m.copyWithin(at, at + 1, len);
    this.bLen[b] = len - 1;
    this.bucket[s] = -1;
    this.profiles[this.profile[s]!]!.count--;
    this.gCount[this.bGroup[b]!]!--;
    this.kCount[this.gClass[this.bGroup[b]!]!]!--;
    this.cCount[this.bCell[b]!]!--;
    if (at === 0 && !this.bDirty[b]) this.headChanged(b);
  }

  /** A bucket's head changed: its group's and cell's lowest head follow. */
  /** the first container of a bucket, or -1 */
  private m0(b: number): number {
    return this.bHeadSlot[b]!;
  }

  /** the first container of a group / class / cell in bucket order (price, exact price, id), or -1 */
  private gHead(g: number): number {
    const b = this.gMinB[g]!;
    return b < 0 ? -1 : this.m0(b);
  }
  private kHead(k: number): number {
    const g = this.kMinG[k]!;
    return g < 0 ? -1 : this.gHead(g);
  }
  private cHead(c: number): number {
    const b = this.cMinB[c]!;
    return b < 0 ? -1 : this.m0(b);
  }

  /** slot a comes before slot b in bucket order (-1: nothing, after everything) */
  private before(a: number, b: number): boolean {
    if (a < 0) return false;
    if (b < 0) return true;
    const pa = this.price[a]!;
    const pb = this.price[b]!;
    if (pa !== pb) return pa < pb;
    return this.cmp(a, b) < 0;
  }

  /**
   * A bucket's head changed: its group's, class's and cell's first container follow. Each keeps
   * the bucket (or group) holding its first container in bucket order, so that the search can
   * prune on (cost, price, id) and not only on cost: ties on price are common.
   */
  private headChanged(b: number): void {
    if (this.bulkMode) return;
    const h = this.bLen[b]! > 0 ? this.bMembers[b]![0]! : -1;
    this.bHeadSlot[b] = h;
    this.bHead[b] = h < 0 ? Infinity : this.price[h]!;
    const g = this.bGroup[b]!;
    if (this.gMinB[g] === b) {
      this.rescanGroup(g);
      this.groupMinChanged(g);
    } else if (this.before(h, this.gHead(g))) {
      this.gMinB[g] = b;
      this.gMin[g] = this.bHead[b]!;
      this.groupMinChanged(g);
    }
    const c = this.bCell[b]!;
    if (this.cMinB[c] === b) this.rescanCell(c);
    else if (this.before(h, this.cHead(c))) {
      this.cMinB[c] = b;
      this.cMin[c] = this.bHead[b]!;
    }
  }

  private groupMinChanged(g: number): void {
    const k = this.gClass[g]!;
    if (this.kMinG[k] === g) this.rescanClass(k);
    else if (this.before(this.gHead(g), this.kHead(k))) {
      this.kMinG[k] = g;
      this.kMin[k] = this.gMin[g]!;
    }
  }

  /** the bucket of `list` whose first container comes first (floats first: few ties reach cmp) */
  private firstBucket(list: readonly number[]): number {
    const head = this.bHead;
    let mb = -1;
    let mh = Infinity;
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!;
      const h = head[b]!;
      if (h > mh || h === Infinity) continue;
      if (h < mh || this.cmp(this.m0(b), this.m0(mb)) < 0) {
        mb = b;
        mh = h;
      }
    }
    return mb;
  }

  private rescanGroup(g: number): void {
    const mb = this.firstBucket(this.gBuckets[g]!);
    this.gMinB[g] = mb;
    this.gMin[g] = mb < 0 ? Infinity : this.bHead[mb]!;
  }

  private rescanClass(k: number): void {
    const list = this.kGroups[k]!;
    let mg = -1;
    let mh = Infinity;
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      const h = this.gMin[g]!;
      if (h > mh || h === Infinity) continue;
      if (h < mh || this.cmp(this.gHead(g), this.gHead(mg)) < 0) {
        mg = g;
        mh = h;
      }
    }
    this.kMinG[k] = mg;
    this.kMin[k] = mh;
  }

  private rescanCell(c: number): void {
    const mb = this.firstBucket(this.cBuckets[c]!);
    this.cMinB[c] = mb;
    this.cMin[c] = mb < 0 ? Infinity : this.bHead[mb]!;
  }

  private sortBucket(b: number): void {
    const len = this.bLen[b]!;
    const sorted = Array.from(this.bMembers[b]!.subarray(0, len)).sort((x, y) => this.cmp(x, y));
    this.bMembers[b]!.set(sorted);
    this.bDirty[b] = 0;
  }

  // ---- expiry heap ----

  private hbLess(i: number, j: number): boolean {
    return this.lastHb[this.heap[i]!]! < this.lastHb[this.heap[j]!]!;
  }
  private heapSwap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    this.heapPos[b] = i;
    this.heapPos[a] = j;
  }
  private heapUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.hbLess(i, p)) break;
      this.heapSwap(i, p);
      i = p;
    }
  }
  private heapDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.heapSize) break;
      const r = l + 1;
      const m = r < this.heapSize && this.hbLess(r, l) ? r : l;
      if (!this.hbLess(m, i)) break;
      this.heapSwap(i, m);
      i = m;
    }
  }
  private heapUpdate(s: number): void {
    const at = this.heapPos[s]!;
    if (at < 0) {
      const i = this.heapSize++;
      this.heap[i] = s;
      this.heapPos[s] = i;
      this.heapUp(i);
    } else {
      // a heartbeat only moves lastHb forward: the key grew
      this.heapDown(at);
    }
  }
  private heapPop(): number {
    const s = this.heap[0]!;
    const last = --this.heapSize;
    if (last > 0) {
      const t = this.heap[last]!;
      this.heap[0] = t;
      this.heapPos[t] = 0;
      this.heapDown(0);
    }
    this.heapPos[s] = -1;
    return s;
  }

  // ---- queries ----

  /** Prepares a request against the index: hardware per profile (model matches once per model). */
  prepare(q: NormalizedRequest, weights?: Readonly<Weights>, refLatencyMs?: number): Query {
    if (this.bulkMode) throw new Error('no match inside bulk()');
    const seq = ++this.seq;
    if (this.modelOk.length < this.models.length) this.modelOk = new Uint8Array(this.models.length * 2);
    if (q.models !== null)
      for (let i = 0; i < this.models.length; i++) {
        const m = this.models[i]!;
        this.modelOk[i] = q.models.some((p) => modelMatches(p, m)) ? 1 : 0;
      }
    const codes = new Uint8Array(this.profiles.length);
    const okProfiles: number[] = [];
    for (let p = 0; p < this.profiles.length; p++) {
      const code = this.profileReason(this.profiles[p]!, q);
      codes[p] = code < 0 ? 0 : code + 1;
      if (code < 0) okProfiles.push(p);
    }
    const region = new Uint8Array(this.regions.length);
    for (let r = 0; r < this.regions.length; r++) {
      const reg = this.regions[r]!;
      if (q.region !== null && !reg.name.startsWith(q.region)) region[r] = REGION_OUT;
      else if (q.point !== null && q.maxLatencyMs !== null) {
        const d = haversineKm(q.point.lat, q.point.lon, reg.lat, reg.lon);
        region[r] =
          rttForKm(Math.max(0, d - reg.radius - EPS_KM)) > q.maxLatencyMs ? REGION_TOO_FAR : REGION_OK;
      } else region[r] = REGION_OK;
    }
    return {
      q,
      seq,
      region,
      weights: weights ?? q.weights,
      refPriceAth: q.refPriceAth,
      refLatencyMs: refLatencyMs ?? q.refLatencyMs,
      maxPriceF: q.maxPrice === null ? Infinity : priceAthOf(q.maxPrice),
      profileCode: codes,
      okProfiles,
    };
  }

  /** hardwareReason() for a profile, with model matches computed once per model: -1 passes. */
  private profileReason(pr: Profile, q: NormalizedRequest): number {
    const hw = pr.hw;
    const n = hw.models.length;
    if (q.models !== null || q.minClassRank >= 0) {
      if (n === 0) return R_GPU_MODEL;
      if (q.minClassRank >= 0 && hw.classRank < q.minClassRank) return R_GPU_MODEL;
      if (q.models !== null) for (const id of pr.modelIds) if (!this.modelOk[id]) return R_GPU_MODEL;
    }
    if (q.minVramMiB !== null && (n === 0 || hw.minVramMiB < q.minVramMiB)) return R_VRAM;
    if (q.minCc10 !== null && (n === 0 || hw.minCc10 < q.minCc10)) return R_CC;
    if (n < q.gpus) return R_COUNT;
    return -1;
  }

  /** What a cell says to the query: in, edge (check each), region, latency; sets its latency lower bound. */
  private cellCode(Q: Query, cl: number): number {
    if (this.cStamp[cl] === Q.seq) return this.cCode[cl]!;
    this.cStamp[cl] = Q.seq;
    const q = Q.q;
    let code = CELL_IN;
    let minLat = 0;
    if (Q.region[this.cRegion[cl]!] === REGION_OUT) code = CELL_REGION;
    else if (q.point !== null) {
      const d = haversineKm(q.point.lat, q.point.lon, this.cLat[cl]!, this.cLon[cl]!);
      this.cCentreLat[cl] = rttForKm(d);
      const r = this.cRadius[cl]!;
      minLat = rttForKm(Math.max(0, d - r - EPS_KM));
      if (q.maxLatencyMs !== null) {
        if (minLat > q.maxLatencyMs) code = CELL_LATENCY;
        else if (rttForKm(d + r + EPS_KM) > q.maxLatencyMs) code = CELL_EDGE;
      }
    }
    this.cCode[cl] = code;
    this.cMinLat[cl] = minLat;
    return code;
  }

  private overBudget(Q: Query, s: number): boolean {
    const pf = this.price[s]!;
    if (pf !== Q.maxPriceF) return pf > Q.maxPriceF;
    return this.objs[s]!.pricePerHour > Q.q.maxPrice!;
  }

  /** members m[0..len) within the budget: the first index over it */
  private withinBudget(Q: Query, m: Int32Array, len: number): number {
    if (Q.q.maxPrice === null || !this.overBudget(Q, m[len - 1]!)) return len;
    if (this.price[m[0]!]! > Q.maxPriceF) return 0;
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.overBudget(Q, m[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** estimateRttMs(point, the container's location), on the columns */
  latencyFrom(pt: { lat: number; lon: number }, s: number): number {
    return rttForKm(haversineKm(pt.lat, pt.lon, this.lat[s]!, this.lon[s]!));
  }

  private stakeOk(s: number): boolean {
    const pr = this.profiles[this.profile[s]!]!;
    if (pr.stakeStamp !== this.stakeStampNow || pr.stakeStamp === undefined) {
      pr.stakeReq = this.deps.requiredStake(pr.rep);
      pr.stakeReqF = Number(pr.stakeReq);
      pr.stakeReqExact = BigInt(pr.stakeReqF) === pr.stakeReq;
      pr.stakeStamp = this.stakeStampNow;
    }
    const sf = this.stake[s]!;
    if (sf !== pr.stakeReqF) return sf > pr.stakeReqF;
    // equal floats: equal amounts when both are exact, else compare the amounts
    if (pr.stakeReqExact && this.stakeExact[s]) return true;
    return this.objs[s]!.stake >= pr.stakeReq;
  }

  /** app, stake, reputation, isolation, host size: the checks made one container at a time; -1 passes */
  private memberReason(Q: Query, s: number): number {
    const q = Q.q;
    if (q.app !== null && !this.apps.get(s)?.includes(q.app)) return R_APP;
    if (!this.stakeOk(s)) return R_STAKE;
    if (q.minReputation !== null && this.rep[s]! < q.minReputation) return R_REPUTATION;
    if (q.sandboxOnly && this.objs[s]!.spec.isolation !== 'sandbox') return R_ISOLATION;
    if (q.image !== null && !this.dockerImages.has(s)) return R_NO_DOCKER;
    if (!hostSizeOk(this.objs[s]!.spec, q)) return R_HOST_SIZE;
    return -1;
  }

  /** A new match begins: stake requirements without a version are recomputed once per match. */
  beginMatch(): void {
    this.matchSeq++;
    this.stakeStampNow = this.deps.stakeVersion ? this.deps.stakeVersion() : this.matchSeq;
  }

  private push(e: number, k: number, head: number): void {
    if (this.hn === this.hb.length) {
      this.hb = growI32(this.hb, this.hn * 2);
      this.hk = growF64(this.hk, this.hn * 2);
      this.hs = growI32(this.hs, this.hn * 2);
    }
    let i = this.hn++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.hk[p]! <= k) break;
      this.hb[i] = this.hb[p]!;
      this.hk[i] = this.hk[p]!;
      this.hs[i] = this.hs[p]!;
      i = p;
    }
    this.hb[i] = e;
    this.hk[i] = k;
    this.hs[i] = head;
  }

  private pop(): number {
    const top = this.hb[0]!;
    const n = --this.hn;
    if (n > 0) {
      const e = this.hb[n]!;
      const k = this.hk[n]!;
      const h = this.hs[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.hk[r]! < this.hk[l]! ? r : l;
        if (this.hk[c]! >= k) break;
        this.hb[i] = this.hb[c]!;
        this.hk[i] = this.hk[c]!;
        this.hs[i] = this.hs[c]!;
        i = c;
      }
      this.hb[i] = e;
      this.hk[i] = k;
      this.hs[i] = h;
    }
    return top;
  }

  /** Could something whose cost is at least `cost`, first in bucket order at `s`, beat the best? */
  private beats(cost: number, s: number, bestCost: number, best: number): boolean {
    if (best < 0 || cost < bestCost) return true;
    if (cost > bestCost) return false;
    const a = this.objs[s]!.pricePerHour;
    const b = this.objs[best]!.pricePerHour;
    if (a !== b) return a < b;
    return this.ids[s]! < this.ids[best]!;
  }

  /**
   * The best eligible container for a prepared query, or slot -1. With `visit`, every eligible
   * container is visited instead and nothing is pruned.
   */
  search(Q: Query, visit?: (slot: number) => void): SearchResult {
    const q = Q.q;
    const w = Q.weights;
    const gpus = q.gpus;
    const refP = Q.refPriceAth;
    const refL = Q.refLatencyMs;
    const budget = Q.maxPriceF;
    const none = { slot: -1, latencyMs: null };
    if (q.app !== null && !this.appCount.get(q.app)) return none;
    this.hn = 0;
    const wantLatency = q.point !== null && w.latency > 0;
    if (wantLatency) {
      // latency is part of the cost: start from the cells, nearest and cheapest first
      const cCount = this.cCount;
      const cMin = this.cMin;
      for (let c = 0; c < this.nC; c++) {
        if (cCount[c] === 0 || cMin[c]! > budget) continue;
        if (this.cellCode(Q, c) >= CELL_REGION) continue;
        this.push(
          c * 4 + K_CELL,
          costOf(w, cMin[c]!, this.cMinLat[c]!, this.cMaxTier[c]!, refP, refL),
          this.cHead(c),
        );
      }
    } else {
      // price (and quality) only: start from the classes (hardware × free GPUs), cheapest first
      const kCount = this.kCount;
      const kFree = this.kFree;
      const kMin = this.kMin;
      for (const p of Q.okProfiles) {
        const classes = this.profiles[p]!.classes;
        for (let i = 0; i < classes.length; i++) {
          const k = classes[i]!;
          if (kCount[k] === 0 || kFree[k]! < gpus || kMin[k]! > budget) continue;
          this.push(k * 4 + K_CLASS, costOf(w, kMin[k]!, 0, this.kMaxTier[k]!, refP, refL), this.kHead(k));
        }
      }
    }
    let best = -1;
    let bestCost = Infinity;
    while (this.hn > 0) {
      if (!visit && this.hk[0]! > bestCost) break;
      const topCost = this.hk[0]!;
      const topHead = this.hs[0]!;
      const e = this.pop();
      if (!visit && !this.beats(topCost, topHead, bestCost, best)) continue;
      const kind = e & 3;
      const id = e >>> 2;
      if (kind === K_CLASS) {
        const groups = this.kGroups[id]!;
        for (let i = 0; i < groups.length; i++) {
          const g = groups[i]!;
          if (this.gCount[g] === 0 || this.gMin[g]! > budget || Q.region[this.gRegion[g]!] !== REGION_OK)
            continue;
          this.push(g * 4 + K_GROUP, costOf(w, this.gMin[g]!, 0, this.gTier[g]!, refP, refL), this.gHead(g));
        }
        continue;
      }
      if (kind === K_CELL) {
        const minLat = this.cMinLat[id]!;
        for (const b of this.cBuckets[id]!) {
          if (this.bLen[b] === 0 || this.bHead[b]! > budget) continue;
          const g = this.bGroup[b]!;
          if (this.gFree[g]! < gpus || Q.profileCode[this.gProfile[g]!] !== 0) continue;
          this.push(
            b * 4 + K_BUCKET,
            costOf(w, this.bHead[b]!, minLat, this.gTier[g]!, refP, refL),
            this.m0(b),
          );
        }
        continue;
      }
      if (kind === K_GROUP) {
        const t = this.gTier[id]!;
        for (const b of this.gBuckets[id]!) {
          if (this.bLen[b] === 0 || this.bHead[b]! > budget) continue;
          if (this.cellCode(Q, this.bCell[b]!) >= CELL_REGION) continue;
          this.push(b * 4 + K_BUCKET, costOf(w, this.bHead[b]!, 0, t, refP, refL), this.m0(b));
        }
        continue;
      }
      const cl = this.bCell[id]!;
      const edge = this.cCode[cl] === CELL_EDGE;
      const minLat = wantLatency ? this.cMinLat[cl]! : 0;
      const t = this.gTier[this.bGroup[id]!]!;
      const m = this.bMembers[id]!;
      const len = this.bLen[id]!;
      for (let i = 0; i < len; i++) {
        const s = m[i]!;
        if (q.maxPrice !== null && this.overBudget(Q, s)) break;
        const pf = this.price[s]!;
        if (!visit && !this.beats(costOf(w, pf, minLat, t, refP, refL), s, bestCost, best)) break;
        let lat = 0;
        if (edge || wantLatency) {
          lat =
            this.lat[s] === this.cLat[cl] && this.lon[s] === this.cLon[cl]
              ? this.cCentreLat[cl]!
              : this.latencyFrom(q.point!, s);
          if (edge && lat > q.maxLatencyMs!) continue;
        }
        if (this.memberReason(Q, s) >= 0) continue;
        if (visit) {
          visit(s);
          continue;
        }
        // (the image part only adds: the bounds above, without it, stay lower bounds)
        const cost =
          costOf(w, pf, lat, this.quality[s]!, refP, refL) + imageCost(q, this.dockerImages.get(s));
        if (
          best < 0 ||
          cost < bestCost ||
          (cost === bestCost &&
            better(
              cost,
              this.objs[s]!.pricePerHour,
              this.ids[s]!,
              bestCost,
              this.objs[best]!.pricePerHour,
              this.ids[best]!,
            ))
        ) {
          best = s;
          bestCost = cost;
        }
        // without latency in the cost, a bucket's first eligible container is its best (its
        // quality is the bucket's, unless the ledger holds a tier that is not a whole 1..3), unless
        // an image is asked for: a dearer one that has it cached may still cost less
        if (!wantLatency && this.quality[s] === t && q.image === null) break;
      }
    }
    if (best < 0) return none;
    return { slot: best, latencyMs: q.point !== null ? this.latencyFrom(q.point, best) : null };
  }

  /** Containers with the hardware and the free GPUs asked for (counted per class, none visited). */
  candidates(Q: Query): number {
    let n = 0;
    for (const p of Q.okProfiles)
      for (const k of this.profiles[p]!.classes) if (this.kFree[k]! >= Q.q.gpus) n += this.kCount[k]!;
    return n;
  }

  /** How many containers each constraint rules out (first reason in RULED_OUT_ORDER). */
  explain(Q: Query): Partial<Record<Reason, number>> {
    const q = Q.q;
    const counts = new Array<number>(RULED_OUT_ORDER.length).fill(0);
    counts[R('offline')] = this.stateCount[STATE_OFFLINE]!;
    counts[R('suspended')] = this.stateCount[STATE_SUSPENDED]!;
    counts[R('unbonding')] = this.stateCount[STATE_UNBONDING]!;
    const noApp = q.app !== null && !this.appCount.get(q.app);
    for (let p = 0; p < this.profiles.length; p++) {
      const pr = this.profiles[p]!;
      const code = Q.profileCode[p]!;
      if (code !== 0) {
        counts[code - 1]! += pr.count;
        continue;
      }
      for (const g of pr.groups) {
        const n = this.gCount[g]!;
        if (n === 0) continue;
        const reg = Q.region[this.gRegion[g]!];
        if (reg === REGION_OUT) {
          counts[R_REGION]! += n;
          continue;
        }
        if (this.gFree[g]! < q.gpus) {
          counts[R_BUSY]! += n;
          continue;
        }
        if (reg === REGION_TOO_FAR) {
          counts[R_LATENCY]! += n;
          continue;
        }
        for (const b of this.gBuckets[g]!) {
          const len = this.bLen[b]!;
          if (len === 0) continue;
          const cc = this.cellCode(Q, this.bCell[b]!);
          if (cc === CELL_LATENCY) {
            counts[R_LATENCY]! += len;
            continue;
          }
          const m = this.bMembers[b]!;
          const k = this.withinBudget(Q, m, len);
          if (cc === CELL_IN) {
            counts[R_PRICE]! += len - k;
            if (noApp) counts[R_APP]! += k;
            else for (let i = 0; i < k; i++) this.countMember(Q, m[i]!, counts);
          } else {
            for (let i = 0; i < len; i++) {
              const s = m[i]!;
              if (this.latencyFrom(q.point!, s) > q.maxLatencyMs!) counts[R_LATENCY]!++;
              else if (i >= k) counts[R_PRICE]!++;
              else if (noApp) counts[R_APP]!++;
              else this.countMember(Q, s, counts);
            }
          }
        }
      }
    }
    const out: Partial<Record<Reason, number>> = {};
    RULED_OUT_ORDER.forEach((r, i) => {
      if (counts[i]) out[r] = counts[i];
    });
    return out;
  }

  private countMember(Q: Query, s: number, counts: number[]): void {
    const r = this.memberReason(Q, s);
    // an eligible container here means the search missed it: a bug, never bad input
    if (r < 0) throw new Error(`index inconsistent: ${this.ids[s]} is eligible but was not found`);
    counts[r]!++;
  }

  /** The smallest change of one constraint that would match, for each constraint that can change. */
  relaxations(q: NormalizedRequest): Relaxation[] {
    const out: Relaxation[] = [];
    const find = (qq: NormalizedRequest, weights?: Weights, refL?: number) =>
      this.search(this.prepare(qq, weights, refL)).slot;
    if (q.maxPrice !== null) {
      const s = find({ ...q, maxPrice: null }, MIN_PRICE);
      if (s >= 0) {
        const min = this.objs[s]!.pricePerHour;
        const budget = q.maxPrice;
        const change = Number(min - budget) / Number(budget > 0n ? budget : 1n);
        out.push(relaxation(q, 'maxPricePerHour', { maxPrice: min }, min.toString(), change));
      }
    }
    if (q.maxLatencyMs !== null) {
      const s = find({ ...q, maxLatencyMs: null }, MIN_LATENCY, 1);
      if (s >= 0) {
        const v = latencyBoundOf(this.latencyFrom(q.point!, s));
        out.push(
          relaxation(q, 'maxLatencyMs', { maxLatencyMs: v }, v, (v - q.maxLatencyMs) / q.maxLatencyMs),
        );
      }
    }
    if (q.gpus >= 2) {
      // the free-GPU counts present with the hardware asked for, largest first
      const Q = this.prepare({ ...q, gpus: 1 });
      const frees = new Set<number>();
      for (const p of Q.okProfiles)
        for (const k of this.profiles[p]!.classes) {
          const f = this.kFree[k]!;
          if (this.kCount[k]! > 0 && f >= 1 && f < q.gpus) frees.add(f);
        }
      for (const f of [...frees].sort((a, b) => b - a))
        if (find({ ...q, gpus: f }) >= 0) {
          out.push(relaxation(q, 'gpus', { gpus: f }, f, (q.gpus - f) / q.gpus));
          break;
        }
    }
    const lower = (field: 'minVramMiB' | 'minCc10') => {
      const old = q[field]!;
      const Q = this.prepare(field === 'minVramMiB' ? { ...q, minVramMiB: null } : { ...q, minCc10: null });
      const vs = new Set<number>();
      for (const p of Q.okProfiles) {
        const pr = this.profiles[p]!;
        const v = field === 'minVramMiB' ? pr.hw.minVramMiB : pr.hw.minCc10;
        if (pr.count > 0 && pr.hw.models.length > 0 && v < old) vs.add(v);
      }
      for (const v of [...vs].sort((a, b) => b - a)) {
        if (field === 'minVramMiB' && find({ ...q, minVramMiB: v }) >= 0)
          return out.push(relaxation(q, 'minVramMiB', { minVramMiB: v }, v, (old - v) / old));
        if (field === 'minCc10' && find({ ...q, minCc10: v }) >= 0)
          return out.push(relaxation(q, 'minComputeCapability', { minCc10: v }, v / 10, (old - v) / old));
      }
      return 0;
    };
    if (q.minVramMiB !== null) lower('minVramMiB');
    if (q.minCc10 !== null) lower('minCc10');
    if (q.minReputation !== null) {
      let max = -1;
      this.search(this.prepare({ ...q, minReputation: null }), (s) => {
        if (this.rep[s]! > max) max = this.rep[s]!;
      });
      if (max >= 0)
        out.push(
          relaxation(
            q,
            'minReputation',
            { minReputation: max },
            max,
            (q.minReputation - max) / q.minReputation,
          ),
        );
    }
    if (q.region !== null) {
      const s = find({ ...q, region: null });
      if (s >= 0) {
        const r = this.objs[s]!.location.region;
        out.push(relaxation(q, 'region', { region: r }, r, 1));
      }
    }
    if (q.models !== null || q.minClassRank >= 0) {
      const s = find({ ...q, models: null, minClassRank: -1 });
      if (s >= 0) {
        const models = this.profiles[this.profile[s]!]!.hw.distinct;
        const patch = { models: models.map((m) => m.toLowerCase()), minClassRank: -1 };
        out.push(relaxation(q, 'gpuModels', patch, models, 1));
      }
    }
    if (q.app !== null && find({ ...q, app: null }) >= 0)
      out.push(relaxation(q, 'app', { app: null }, null, 1));
    if (q.sandboxOnly && find({ ...q, sandboxOnly: false }) >= 0)
      out.push(relaxation(q, 'isolation', { sandboxOnly: false }, 'any', 1));
    return sortRelaxations(out);
  }

  /** Checks the index against its own invariants (tests): buckets sorted, slots placed, minima right. */
  checkInvariants(now: number): void {
    let inBuckets = 0;
    const gCount = new Int32Array(this.nG);
    const cCount = new Int32Array(this.nC);
    for (let b = 0; b < this.nB; b++) {
      const m = this.bMembers[b]!;
      const len = this.bLen[b]!;
      const g = this.bGroup[b]!;
      inBuckets += len;
      gCount[g]! += len;
      cCount[this.bCell[b]!]! += len;
      if (this.bHead[b] !== (len ? this.price[m[0]!] : Infinity) || this.bHeadSlot[b] !== (len ? m[0] : -1))
        throw new Error(`bucket ${b}: head out of step`);
      for (let i = 0; i < len; i++) {
        const s = m[i]!;
        if (this.bucket[s] !== b) throw new Error(`slot ${s} in bucket ${b} but points to ${this.bucket[s]}`);
        if (this.free[s] !== this.gFree[g])
          throw new Error(`slot ${s}: free ${this.free[s]} in group of ${this.gFree[g]}`);
        if (
          this.profile[s] !== this.gProfile[g] ||
          this.cell[s] !== this.bCell[b] ||
          this.tier[s] !== this.gTier[g]
        )
          throw new Error(`slot ${s} in the wrong bucket`);
        if (i > 0 && this.cmp(m[i - 1]!, s) >= 0) throw new Error(`bucket ${b} not sorted`);
      }
    }
    if (inBuckets !== this.stateCount[STATE_IN])
      throw new Error(`${inBuckets} in buckets, ${this.stateCount[STATE_IN]} in index`);
    for (let g = 0; g < this.nG; g++) {
      if (gCount[g] !== this.gCount[g]) throw new Error(`group ${g}: count out of step`);
      let min = Infinity;
      for (const b of this.gBuckets[g]!) min = Math.min(min, this.bHead[b]!);
      if (min !== this.gMin[g]) throw new Error(`group ${g}: lowest head out of step`);
      for (const b of this.gBuckets[g]!)
        if (this.before(this.m0(b), this.gHead(g)))
          throw new Error(`group ${g}: first container out of step`);
    }
    for (let k = 0; k < this.nK; k++) {
      let min = Infinity;
      let count = 0;
      for (const g of this.kGroups[k]!) {
        min = Math.min(min, this.gMin[g]!);
        count += this.gCount[g]!;
      }
      if (min !== this.kMin[k] || count !== this.kCount[k]) throw new Error(`class ${k}: out of step`);
      for (const g of this.kGroups[k]!)
        if (this.before(this.gHead(g), this.kHead(k)))
          throw new Error(`class ${k}: first container out of step`);
    }
    for (let c = 0; c < this.nC; c++) {
      if (cCount[c] !== this.cCount[c]) throw new Error(`cell ${c}: count out of step`);
      let min = Infinity;
      for (const b of this.cBuckets[c]!) min = Math.min(min, this.bHead[b]!);
      if (min !== this.cMin[c]) throw new Error(`cell ${c}: lowest head out of step`);
      for (const b of this.cBuckets[c]!)
        if (this.before(this.m0(b), this.cHead(c))) throw new Error(`cell ${c}: first container out of step`);
    }
    for (let s = 0; s < this.n; s++) {
      if (this.state[s] === STATE_IN && now - this.lastHb[s]! > this.deps.offlineAfterMs)
        throw new Error(`slot ${s} stale but in index`);
      if (this.state[s] === STATE_IN && this.heapPos[s]! < 0)
        throw new Error(`slot ${s} in index but not in the expiry heap`);
    }
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if ((a?.length ?? 0) !== (b?.length ?? 0)) return false;
  return (a ?? []).every((x, i) => x === b![i]);
}
