import type { Clock, Rng } from '../core/clock.js';
import { signedByContainer } from '../core/container-signature.js';
import { isAethirError } from '../core/errors.js';
import type { Bus } from '../bus/bus.js';
import { subjects, type HeartbeatMsg } from '../bus/subjects.js';
import type { Ledger } from '../ledger/machine.js';
import type { CheckKind, Container, Lease } from '../ledger/model.js';
import { REPORT_REASON_MAX } from '../ledger/modules/checks/payloads.js';
import { hasLeft } from '../ledger/modules/containers/queries.js';
import { verifyReceipt } from '../ledger/receipt.js';
import { checkCapacityOverBus } from './capacity-bus-channel.js';
import { classOf, type CapacityClaim } from '../capacity/sizing.js';
import type { CapacityCheckOptions, CapacityResult } from '../capacity/prover.js';
import type { Recomputer } from '../capacity/recompute.js';
import { RecomputePool } from '../capacity/recompute-pool.js';
import { LivenessChecker } from './checker.js';
import { DEFAULT_BOUNDS, MULTILATERATION_CALIBRATION } from './location/bounds.js';
import {
  LocationChecker,
  calibrateOnLandmarks,
  MIN_CALIBRATION_LANDMARKS,
  type Landmark,
} from './location/checker.js';
import type { Vantage } from './location/multilaterate.js';
import type { NetworkPort } from './location/network.js';
import { PEER_RTT_SUBJECT, PeerMeasurements, signPeerRtt } from './location/peers.js';
import { judgeQos, type QosSample } from './qos.js';
import { challengeStorage } from './storage.js';

/**
 * One checker's duty, every check of docs/verification.md, for the containers the ledger assigns
 * to it (2N+1 per container and epoch, drawn from the epoch seed): liveness (heartbeats and
 * direct probes), capacity (a Proof-of-Capacity challenge relayed to the container's prover),
 * location (round-trip times through the network port) and quality of service while serving.
 * Each verdict is a signed `checker.report`; the ledger's majority decides and applies the
 * consequence. The node drives `tick()` from a timer (domain code takes no timers); long checks
 * (capacity) run in the background so that liveness never waits for them.
 */

export interface CheckCadence {
  /** an unchanged liveness verdict is re-confirmed on the log this often */
  reconfirmMs: number;
  /** direct probes of each assigned container */
  probeMs: number;
  /** quality of service of a container with open leases */
  qosMs: number;
  /** a container is re-checked for location this often (and as soon as it appears) */
  locationMs: number;
  /**
   * after measuring, how long a checker waits for the other assigned checkers' measurements of
   * the same container before it votes on what it has (default 10 s, at most a quarter of
   * locationMs): they check a new container at the same time, and a vote that sees every vantage
   * point judges them together (multilateration) instead of on its own band
   */
  locationPeerWaitMs?: number;
  /** a container is re-challenged for capacity this often (and as soon as it appears) */
  capacityMs: number;
  /**
   * capacity challenges start on slot boundaries (multiples of this on the clock), every due
   * container at once, each by one of its checkers that has not voted yet: containers that
   * share one GPU are always challenged together and cannot both hold their claimed memory
   */
  capacitySlotMs: number;
  /**
   * each proven volume's proof of storage is challenged this often (default reconfirmMs); a failed
   * look is looked at again after a quarter of it, and two in a row make a failing vote
   */
  storageMs?: number;
}

/**
 * The cadences of DESIGN.md for an epoch length: heartbeat probes and QoS once a minute of a
 * 15-minute epoch (epoch / 15), liveness re-confirmed and location re-checked once an epoch,
 * capacity once a day (96 epochs). A devnet with `--epoch 10` runs them all 90 times faster.
 */
export function cadenceForEpoch(epochMs: number): CheckCadence {
  return {
    reconfirmMs: epochMs,
    probeMs: Math.max(500, Math.round(epochMs / 15)),
    qosMs: Math.max(1_000, Math.round(epochMs / 15)),
    locationMs: epochMs,
    capacityMs: epochMs * 96,
    capacitySlotMs: 10_000,
    storageMs: epochMs,
  };
}

export interface CheckerPlace {
  city: string;
  country: string;
  lat: number;
  lon: number;
}

export interface ReportPayload {
  container: string;
  check: CheckKind;
  ok: boolean;
  observedAt: number;
  reason?: string;
  score?: number;
  rttMs?: number;
  proveMs?: number;
  /** storage: the volume */
  volume?: string;
  /** location, refuted: the one other checker whose shared measurement the refutation rests on */
  restsOn?: string;
}

export interface CheckerServiceDeps {
  address: string;
  chainId: string;
  ledger: () => Ledger;
  /** signs and submits a checker.report; a rejection throws an AethirError */
  report: (p: ReportPayload) => Promise<unknown>;
  bus: Bus;
  clock: Clock;
  /** challenge seeds, opened rows, session ids: secureRng() in production */
  rng: Rng;
  /** where this checker is (known to the network): the origin of its RTT measurements */
  place: CheckerPlace;
  network: NetworkPort;
  /**
   * hosts at known places this checker calibrates its RTT bounds on before its first location
   * check (Gueye et al.: per-landmark bounds); none: the default bounds fitted on WonderProxy
   */
  landmarks?: readonly Landmark[] | (() => readonly Landmark[]);
  /**
   * the checker's key: with it, it shares its location measurements with the other checkers
   * (signed, on PEER_RTT_SUBJECT) and judges each claim with theirs and its own together
   * (multilateration); without it, each vote is its own band
   */
  peerKey?: { publicKey: string; secretKey: string };
  /**
   * the checker's key: signs its capacity sessions' starts and its storage challenges (hosts admit
   * only a ledger checker's)
   */
  key?: { publicKey: string; secretKey: string };
  offlineAfterMs: number;
  cadence: CheckCadence;
  /** the checks this checker runs (default all four); an operator may run a subset */
  checks?: readonly CheckKind[];
  /** how long a probe may take (default 2 s) */
  probeTimeoutMs?: number;
  /** how long a host has to answer a storage challenge (default STORAGE_DEADLINE_MS) */
  storageDeadlineMs?: number;
  /** overrides of the capacity check (tests) */
  capacity?: Partial<
    Pick<
      CapacityCheckOptions,
      | 'n'
      | 'deadlineMs'
      | 'memoryMiB'
      | 'memoryProof'
      | 'workProof'
      | 'verifiedWorkRows'
      | 'rttMs'
      | 'startupTimeoutMs'
      | 'openTimeoutMs'
    >
  >;
  /**
   * where the capacity proofs' recomputation runs (the caller owns it). Default: a RecomputePool of
   * one worker thread, started on the first verification and terminated by stop(), so that this
   * checker's event loop keeps answering the bus and timing round trips while it verifies.
   */
  recompute?: Recomputer;
  log?: (line: string) => void;
}

export interface CheckerStats {
  reports: Record<CheckKind, number>;
  rejected: number;
  probes: { sent: number; answered: number };
  /** checkerErrors: checks this checker could not verify itself (no vote was cast) */
  capacity: { checks: number; passed: number; failed: number; checkerErrors: number };
}

/** Per container: what this checker has seen of it this epoch (continuity and loss). */
interface Seen {
  heartbeat: { receivedAt: number; runningLeases: number; load?: number } | null;
  /** the container's own time on the last heartbeat taken (a later one must be newer) */
  heartbeatAt?: number;
  probesSent: number;
  probesAnswered: number;
  epoch: number;
  shortfall: boolean;
}

const KINDS: readonly CheckKind[] = ['liveness', 'capacity', 'location', 'qos', 'storage'];
const SAMPLES_KEPT = 64;

export class CheckerService {
  readonly liveness: LivenessChecker;
  private location: Promise<LocationChecker> | null = null;
  private peers: PeerMeasurements | null = null;
  /** when `location` was calibrated: landmarks that change (verified containers) recalibrate it */
  private calibratedAt = 0;
  private readonly seen = new Map<string, Seen>();
  /** per open lease: its users' verified samples, and the most service a receipt acknowledged */
  private readonly samples = new Map<string, { seenAt: Set<number>; list: QosSample[]; servedMs: number }>();
  /** containers a paying user reported down: looked at again at once (at most every qosMs / 4) */
  private readonly recheck = new Set<string>();
  /** when this checker last voted, per container and check */
  private readonly voted = new Map<string, number>();
  private readonly running = new Set<string>();
  /** location votes waiting for the other assigned checkers' measurements (locationPeerWaitMs) */
  private readonly awaitingPeers = new Map<
    string,
    { vote: (peers: Vantage[]) => Promise<void>; since: number }
  >();
  /** capacity challenges in a row that nobody on the container's side took up */
  private readonly unanswered = new Map<string, number>();
  /** per volume: failed storage looks in a row (two make a failing vote) */
  private readonly storageFails = new Map<string, number>();
  private readonly background = new Set<Promise<void>>();
  private lastProbeAt = -Infinity;
  private lastSlot = -1;
  private offs: Array<() => void> = [];
  private stopped = false;
  /** the default recomputer, owned by this service (started on first use, closed by stop()) */
  private pool: RecomputePool | null = null;
  readonly stats: CheckerStats = {
    reports: { liveness: 0, capacity: 0, location: 0, qos: 0, storage: 0 },
    rejected: 0,
    probes: { sent: 0, answered: 0 },
    capacity: { checks: 0, passed: 0, failed: 0, checkerErrors: 0 },
  };

  constructor(private readonly deps: CheckerServiceDeps) {
    this.liveness = new LivenessChecker({
      address: deps.address,
      clock: deps.clock,
      offlineAfterMs: deps.offlineAfterMs,
      reconfirmMs: deps.cadence.reconfirmMs,
    });
  }

  get address(): string {
    return this.deps.address;
  }

  /** Worker threads of this service's own verification pool (0 before its first verification and after stop()). */
  get verificationThreads(): number {
    return this.pool?.threads ?? 0;
  }

  /** Listens to heartbeats and usage receipts on the bus. */
  start(): this {
    const { bus } = this.deps;
    if (this.deps.peerKey) {
      const peers = (this.peers = new PeerMeasurements({
        chainId: this.deps.chainId,
        isChecker: (a) => this.deps.ledger().checker(a) !== undefined,
        maxAgeMs: 2 * this.deps.cadence.locationMs,
      }));
      this.offs.push(bus.subscribe(PEER_RTT_SUBJECT, (m) => void peers.add(m, this.deps.clock.now())));
    }
    this.offs.push(
      bus.subscribe(subjects.allHeartbeats, (m) => this.heartbeat(m as HeartbeatMsg)),
      bus.subscribe(subjects.allLeaseReceipts, (m, s) => this.receipt(s.split('.')[1]!, m)),
    );
    return this;
  }

  /** Whether this checker keeps anything of this container (what it has seen of it). */
  tracks(container: string): boolean {
    return this.seen.has(container);
  }

  /** A heartbeat, stamped on receipt by this checker's clock (the container's clock is not trusted). */
  heartbeat(hb: HeartbeatMsg): void {
    // Only the network's containers: a stranger's key (or one that left) must not grow this
    // checker's maps.
    const c = this.deps.ledger().container(hb.container);
    if (!c || hasLeft(c)) return;
    // the container's own, and newer than the last: anyone on the bus could otherwise keep a host
    // that is gone looking alive, or silence a live one with a heartbeat from the far future
    const last = this.seen.get(hb.container)?.heartbeatAt;
    if (last !== undefined && hb.at <= last) return;
    if (!signedByContainer('heartbeat', this.deps.chainId, hb)) return;
    const now = this.deps.clock.now();
    this.liveness.heartbeat(hb.container, hb.at);
    const s = this.seenOf(hb.container);
    s.heartbeatAt = hb.at;
    s.heartbeat = {
      receivedAt: now,
      runningLeases: hb.runningLeases,
      ...(hb.load !== undefined ? { load: hb.load } : {}),
    };
  }

  /** A usage receipt for a lease: its quality samples count only if the lease's user signed it. */
  receipt(leaseId: string, msg: unknown): void {
    const lease = this.deps.ledger().lease(leaseId);
    if (!lease || lease.status !== 'open') return;
    let r;
    try {
      r = verifyReceipt(this.deps.chainId, msg, lease.user);
    } catch {
      return;
    }
    if (r.lease !== leaseId) return;
    const now = this.deps.clock.now();
    let rec = this.samples.get(leaseId);
    if (!rec) this.samples.set(leaseId, (rec = { seenAt: new Set(), list: [], servedMs: 0 }));
    rec.servedMs = Math.max(rec.servedMs, r.servedMs);
    for (const s of r.samples ?? []) {
      if (rec.seenAt.has(s.at)) continue;
      rec.seenAt.add(s.at);
      // A user who says the service is down gets it looked at again at once (by the checkers'
      // own measurement: a user's word moves the score, never a verdict).
      if (!s.ok && rec.servedMs > 0) this.recheck.add(lease.container);
      rec.list.push({
        receivedAt: now,
        ok: s.ok,
        ...(s.latencyMs !== undefined ? { latencyMs: s.latencyMs } : {}),
      });
    }
    if (rec.list.length > SAMPLES_KEPT) rec.list.splice(0, rec.list.length - SAMPLES_KEPT);
  }

  /**
   * One pass: liveness verdicts, probes, and the checks that are due. Resolves when the liveness
   * and QoS reports of this pass are on the log; capacity and location checks go on in the
   * background (see idle()).
   */
  async tick(): Promise<void> {
    if (this.stopped) return;
    const ledger = this.deps.ledger();
    const now = this.deps.clock.now();
    const me = this.deps.address;
    // A suspended checker gets no tasks until its ban ends; the ledger assigns others meanwhile.
    if ((ledger.checker(me)?.bannedUntil ?? 0) > now) return;
    const runs = new Set(this.deps.checks ?? KINDS);
    const mine = (c: Container, check: CheckKind) =>
      runs.has(check) && ledger.assignedCheckers(c.id, now, check).includes(me);
    const all = ledger.containers();

    // Liveness: heartbeats and probes.
    if (now - this.lastProbeAt >= this.deps.cadence.probeMs) {
      this.lastProbeAt = now;
      for (const c of all) if (mine(c, 'liveness')) this.spawn(this.probe(c.id));
    }
    for (const r of this.liveness.tick(all.filter((c) => mine(c, 'liveness')))) {
      const s = this.seenOf(r.container);
      const loss =
        s.probesSent > 0 ? `; probes answered this epoch: ${s.probesAnswered} of ${s.probesSent}` : '';
      const reason = r.online
        ? `heartbeats and probes answered${loss}`
        : `no heartbeat or probe answer for more than ${(this.deps.offlineAfterMs / 1000).toFixed(0)} s${loss}`;
      if (
        await this.send({
          container: r.container,
          check: 'liveness',
          ok: r.online,
          observedAt: r.observedAt,
          reason,
        })
      )
        this.liveness.reportedOk(r);
    }

    // Quality of service of the containers serving leases.
    const open = new Map<string, Lease[]>();
    // (the ledger keeps no index of open leases: scan them only when some container serves)
    if (all.some((c) => c.openLeases > 0 && mine(c, 'qos')))
      for (const l of ledger.leases())
        if (l.status === 'open') open.set(l.container, [...(open.get(l.container) ?? []), l]);
    for (const [id, leases] of open) {
      const c = ledger.container(id);
      const qosMs = this.deps.cadence.qosMs;
      const recheck = this.recheck.has(id) && this.due(id, 'qos', Math.ceil(qosMs / 4), now);
      if (!c || c.status !== 'online' || !mine(c, 'qos') || !(recheck || this.due(id, 'qos', qosMs, now)))
        continue;
      this.recheck.delete(id);
      // a re-check asks the container at once how many leases it runs (a direct probe)
      if (recheck) await this.probe(id);
      const s = this.seenOf(id);
      const v = judgeQos({
        now,
        windowMs: qosMs,
        heartbeat: s.heartbeat,
        offlineAfterMs: this.deps.offlineAfterMs,
        leases: leases.map((l) => {
          const rec = this.samples.get(l.id);
          const owed = (BigInt(rec?.servedMs ?? 0) * l.pricePerHour) / 3_600_000n;
          return {
            id: l.id,
            user: l.user,
            openedAt: l.openedAt,
            samples: rec?.list ?? [],
            paid: owed < l.escrow ? owed : l.escrow,
          };
        }),
        previousShortfall: s.shortfall,
      });
      if (!v) continue;
      s.shortfall = v.shortfall;
      this.voted.set(`${id}/qos`, now);
      await this.send({
        container: id,
        check: 'qos',
        ok: v.ok,
        observedAt: now,
        reason: v.reason,
        ...(v.score !== null ? { score: v.score } : {}),
      });
    }
    for (const leaseId of this.samples.keys())
      if (ledger.lease(leaseId)?.status !== 'open') this.samples.delete(leaseId);
    for (const id of this.recheck) if (!open.has(id)) this.recheck.delete(id);
    // What this checker kept of containers that left the network goes with them.
    for (const id of this.seen.keys()) {
      const c = ledger.container(id);
      if (c && !hasLeft(c)) continue;
      this.seen.delete(id);
      this.unanswered.delete(id);
      this.liveness.forget(id);
      for (const k of KINDS) this.voted.delete(`${id}/${k}`);
    }

    // Location: once a period per container, and at once for a new one. A measured container's
    // vote waits (at most locationPeerWaitMs) until every other assigned checker's measurement of
    // it is here.
    for (const [id, w] of [...this.awaitingPeers]) {
      const c = ledger.container(id);
      if (!c || hasLeft(c)) {
        this.awaitingPeers.delete(id);
        this.running.delete(`${id}/location`);
        continue;
      }
      const got = this.peers?.measuredBy(id, now) ?? new Set<string>();
      const missing = ledger.assignedCheckers(id, now, 'location').some((a) => a !== me && !got.has(a));
      if (missing && now - w.since < this.peerWaitMs()) continue;
      this.awaitingPeers.delete(id);
      this.spawn(w.vote(this.peers?.vantages(id, now, me) ?? []));
    }
    for (const c of all) {
      if (c.status !== 'online' || !mine(c, 'location')) continue;
      if (!this.dueOnLedger(ledger, c, 'location', this.deps.cadence.locationMs, now)) continue;
      this.voted.set(`${c.id}/location`, now);
      this.spawn(this.checkLocation(c));
    }

    this.storage(ledger, runs, now);

    // Capacity: on slot boundaries, every due container at once, each by one checker.
    const slotMs = this.deps.cadence.capacitySlotMs;
    const slot = Math.floor(now / slotMs);
    if (slot !== this.lastSlot && runs.has('capacity')) {
      this.lastSlot = slot;
      for (const c of all) {
        // A capacity check needs the GPU idle (it holds most of its memory for seconds): a
        // container serving leases is left alone (its service is what QoS and receipts measure)
        // and challenged on the first slot after its leases end.
        // A host that claims no GPU has no capacity claim to prove (its cores are not checked).
        if (
          c.status !== 'online' ||
          c.spec.source === 'simulated' ||
          c.openLeases > 0 ||
          c.spec.gpus.length === 0
        )
          continue;
        // The slot's challenger: among the assigned checkers that have not voted in the open round,
        // the one at slot mod their number; so a decision needs N+1 slots, never a wasted one.
        const waiting = ledger
          .assignedCheckers(c.id, now, 'capacity')
          .filter((a) => !this.standing(ledger, c.id, 'capacity', a, now));
        if (waiting.length === 0 || waiting[slot % waiting.length] !== me) continue;
        if (!this.dueOnLedger(ledger, c, 'capacity', this.deps.cadence.capacityMs, now)) continue;
        this.voted.set(`${c.id}/capacity`, now);
        this.spawn(this.checkCapacity(c));
      }
    }
  }

  /**
   * Storage: each proven, live volume of an online container this checker is assigned to, once a
   * period from one period after its creation; a failed look again after a quarter period; two
   * failed looks in a row vote "lost".
   */
  private storage(ledger: Ledger, runs: Set<CheckKind>, now: number): void {
    if (!runs.has('storage')) return;
    const period = this.deps.cadence.storageMs ?? this.deps.cadence.reconfirmMs;
    const live = new Set<string>();
    for (const v of ledger.volumes()) {
      if (v.status !== 'active' || v.seal === undefined) continue;
      live.add(v.id);
      // a new volume gets one period for its host to provision it (seal its canaries) first
      if (now - v.createdAt < period) continue;
      const c = ledger.container(v.container);
      if (!c || c.status !== 'online' || v.hostDownSince !== null) continue;
      if (!ledger.assignedCheckers(c.id, now, 'storage', v.id).includes(this.deps.address)) continue;
      const key = `${v.id}/storage`;
      const failing = (this.storageFails.get(v.id) ?? 0) > 0;
      if (this.running.has(key) || !this.due(v.id, 'storage', failing ? Math.ceil(period / 4) : period, now))
        continue;
      this.voted.set(key, now);
      this.spawn(this.checkStorage(c.id, v.id, v.seal));
    }
    for (const id of this.storageFails.keys()) if (!live.has(id)) this.storageFails.delete(id);
    for (const k of this.voted.keys())
      if (k.endsWith('/storage') && k.startsWith('V') && !live.has(k.slice(0, -8))) this.voted.delete(k);
  }

  private async checkStorage(container: string, volume: string, iterations: number): Promise<void> {
    const key = `${volume}/storage`;
    this.running.add(key);
    try {
      const look = await challengeStorage({
        bus: this.deps.bus,
        clock: this.deps.clock,
        rng: this.deps.rng,
        checker: this.deps.address,
        container,
        volume,
        iterations,
        ...(this.deps.key ? { key: this.deps.key } : {}),
        ...(this.deps.storageDeadlineMs !== undefined ? { deadlineMs: this.deps.storageDeadlineMs } : {}),
      });
      let reason = look.kind === 'proved' ? `proved it holds the volume in ${look.ms} ms` : look.reason;
      if (look.kind === 'silent') {
        // Silence from a host that is down is liveness's business, not a lost volume: it counts
        // only if the host answers a direct probe at once (up, but without the proof).
        const s = this.seenOf(container);
        const before = s.probesAnswered;
        await this.probe(container);
        if (s.probesAnswered === before) return;
        reason = `${reason}, though it answers probes`;
      }
      const fails = look.kind === 'proved' ? 0 : (this.storageFails.get(volume) ?? 0) + 1;
      this.storageFails.set(volume, fails);
      if (fails === 1) return; // one failed look is not a verdict: looked at again soon
      await this.send({
        container,
        check: 'storage',
        volume,
        ok: fails === 0,
        observedAt: this.deps.clock.now(),
        reason: fails === 0 ? reason : `${reason} (${fails} looks in a row)`,
      });
    } finally {
      this.running.delete(key);
    }
  }

  /** Resolves when the background checks started so far have reported. */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs) off();
    this.offs = [];
    await this.idle();
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
  }

  // -------------------------------------------------------------------------------------------

  private seenOf(id: string): Seen {
    const epoch = this.deps.ledger().economics.lastEpoch + 1;
    let s = this.seen.get(id);
    if (!s)
      this.seen.set(id, (s = { heartbeat: null, probesSent: 0, probesAnswered: 0, epoch, shortfall: false }));
    if (s.epoch !== epoch) Object.assign(s, { probesSent: 0, probesAnswered: 0, epoch });
    return s;
  }

  /** Whether this checker's own last vote on (container, check) is at least `periodMs` old. */
  private due(id: string, check: CheckKind, periodMs: number, now: number): boolean {
    const last = this.voted.get(`${id}/${check}`);
    return last === undefined || now - last >= periodMs;
  }

  /**
   * Due on the ledger: the container has no verdict decided since the current period began
   * (periods start on multiples of `periodMs` on the clock, the same for every container: every
   * container of a host falls due at the same boundary and is challenged on the same slot), and
   * this checker has no standing vote in the open round. A standing vote is renewed after
   * `checkerReassignMs` without a decision (two remaining checkers that split would otherwise wait
   * forever), and never more often than that or than the period.
   */
  private dueOnLedger(
    ledger: Ledger,
    c: Container,
    check: CheckKind,
    periodMs: number,
    now: number,
  ): boolean {
    if (this.running.has(`${c.id}/${check}`)) return false;
    const decided = c.checks?.[check];
    if (decided && decided.at >= Math.floor(now / periodMs) * periodMs) return false;
    if (this.standing(ledger, c.id, check, this.deps.address, now)) return false;
    return this.due(c.id, check, Math.min(periodMs, ledger.params.checkerReassignMs), now);
  }

  /** Whether `checker` has a vote in the open round on (container, check) younger than the reassignment period. */
  private standing(ledger: Ledger, id: string, check: CheckKind, checker: string, now: number): boolean {
    const v = ledger.round(id, check)?.votes[checker];
    return v !== undefined && now - v.at < ledger.params.checkerReassignMs;
  }

  private spawn(p: Promise<void>): void {
    const t = p
      .catch((e: unknown) => this.deps.log?.(`checker: ${(e as Error).message}`))
      .finally(() => this.background.delete(t));
    this.background.add(t);
  }

  private nonce(): string {
    let s = '';
    for (let i = 0; i < 4; i++) s += this.deps.rng.nextU32().toString(16).padStart(8, '0');
    return s;
  }

  private async probe(id: string): Promise<void> {
    const s = this.seenOf(id);
    s.probesSent++;
    this.stats.probes.sent++;
    const nonce = this.nonce();
    try {
      const r = (await this.deps.bus.request(
        subjects.check(id),
        { op: 'probe', checker: this.deps.address, nonce },
        { timeoutMs: this.deps.probeTimeoutMs ?? 2_000 },
      )) as { container?: unknown; nonce?: unknown; runningLeases?: unknown };
      // the container's own answer: anyone on the bus sees the nonce and could answer for a host
      // that is gone
      if (r?.nonce !== nonce || r.container !== id) return;
      if (!signedByContainer('probe', this.deps.chainId, r)) return;
      s.probesAnswered++;
      this.stats.probes.answered++;
      const now = this.deps.clock.now();
      this.liveness.heartbeat(id, now);
      // the answer says how many leases it runs now: as fresh as a heartbeat received now
      if (Number.isSafeInteger(r.runningLeases) && (r.runningLeases as number) >= 0)
        s.heartbeat = {
          receivedAt: now,
          runningLeases: r.runningLeases as number,
          ...(s.heartbeat?.load !== undefined ? { load: s.heartbeat.load } : {}),
        };
    } catch (e) {
      if (!isAethirError(e)) throw e;
    }
  }

  private async checkLocation(c: Container): Promise<void> {
    const key = `${c.id}/location`;
    this.running.add(key);
    // once the vote is handed on (now, or to tick() after the wait), it clears `running` itself
    let handedOn = false;
    try {
      const landmarks = this.deps.landmarks;
      if (
        typeof landmarks === 'function' &&
        this.deps.clock.now() - this.calibratedAt >= this.deps.cadence.locationMs
      )
        this.location = null;
      if (!this.location) {
        this.calibratedAt = this.deps.clock.now();
        this.location = this.calibrated();
      }
      const checker = await this.location;
      const target = { id: c.id, claimed: c.location };
      const rtt = await checker.measure(target);
      const peerKey = this.deps.peerKey;
      if (rtt !== null && peerKey && this.peers) {
        const { lat, lon } = this.deps.place;
        const body = {
          chainId: this.deps.chainId,
          checker: this.deps.address,
          container: c.id,
          lat,
          lon,
          rttMs: rtt,
          bounds: checker.ownBounds ?? DEFAULT_BOUNDS,
          at: this.deps.clock.now(),
        };
        this.deps.bus.publish(PEER_RTT_SUBJECT, signPeerRtt(body, peerKey));
      }
      const vote = async (peers: Vantage[]) => {
        try {
          const v = await checker.check(target, peers, rtt);
          if (!v) return; // never answered: liveness says so, not location
          await this.send({
            container: c.id,
            check: 'location',
            ok: v.ok,
            observedAt: this.deps.clock.now(),
            reason: v.reason,
            rttMs: Math.round(v.rttMs * 1000) / 1000,
            ...(v.restsOn ? { restsOn: v.restsOn } : {}),
          });
        } finally {
          this.running.delete(key);
        }
      };
      if (rtt !== null && this.peers && this.peerWaitMs() > 0) {
        // tick() votes once the other assigned checkers' measurements are here, or the wait is over
        this.awaitingPeers.set(c.id, { vote, since: this.deps.clock.now() });
        handedOn = true;
        return;
      }
      handedOn = true;
      await vote(this.peers?.vantages(c.id, this.deps.clock.now(), this.deps.address) ?? []);
    } finally {
      if (!handedOn) this.running.delete(key);
    }
  }

  /** How long a measured location vote waits for the other assigned checkers' measurements. */
  private peerWaitMs(): number {
    const { locationMs, locationPeerWaitMs } = this.deps.cadence;
    return locationPeerWaitMs ?? Math.min(10_000, Math.floor(locationMs / 4));
  }

  private async calibrated(): Promise<LocationChecker> {
    const { network, place } = this.deps;
    const landmarks = typeof this.deps.landmarks === 'function' ? this.deps.landmarks() : this.deps.landmarks;
    const bounds = landmarks?.length
      ? await calibrateOnLandmarks(network, place, landmarks, 5, MULTILATERATION_CALIBRATION)
      : undefined;
    if (typeof this.deps.landmarks === 'function')
      this.deps.log?.(
        `checker ${this.deps.address.slice(0, 12)}: location bounds ` +
          (bounds
            ? `calibrated on ${landmarks!.length} landmark${landmarks!.length === 1 ? '' : 's'}`
            : `not calibrated (${landmarks?.length ?? 0} landmarks; it takes ${MIN_CALIBRATION_LANDMARKS} that answer): the default bounds`),
      );
    return new LocationChecker({ network, from: place, ...(bounds ? { bounds } : {}) });
  }

  private async checkCapacity(c: Container): Promise<void> {
    const key = `${c.id}/capacity`;
    this.running.add(key);
    try {
      const r = await this.capacity(c);
      if (r.code === 'checker') {
        // This checker could not verify the answer (its verification worker died or is
        // overloaded): no verdict on the container; it is challenged again on a later slot.
        this.stats.capacity.checkerErrors++;
        this.voted.delete(key);
        this.deps.log?.(`checker ${this.deps.address.slice(0, 12)}: capacity of ${c.id}: ${r.reason}`);
        return;
      }
      if (r.code === 'spawn') {
        // Nobody took the challenge up (the container's agent is not reachable on the bus, or its
        // relay is reconnecting): once is not a verdict, twice in a row is.
        const n = (this.unanswered.get(c.id) ?? 0) + 1;
        this.unanswered.set(c.id, n);
        if (n < 2) {
          this.voted.delete(key);
          return;
        }
      }
      this.unanswered.delete(c.id);
      this.stats.capacity.checks++;
      this.stats.capacity[r.ok ? 'passed' : 'failed']++;
      await this.send({
        container: c.id,
        check: 'capacity',
        ok: r.ok,
        observedAt: this.deps.clock.now(),
        reason: capacityReason(c, r),
        ...(r.proveMs !== null ? { proveMs: Math.round(r.proveMs) } : {}),
      });
    } finally {
      this.running.delete(key);
    }
  }

  /** The claim of a container: its first GPU's model and memory (every GPU of a host is one model). */
  private capacity(c: Container): Promise<CapacityResult> {
    const gpu = c.spec.gpus[0]!;
    const claim: CapacityClaim = { model: gpu.model, memoryMiB: gpu.memoryMiB };
    return checkCapacityOverBus({
      bus: this.deps.bus,
      container: c.id,
      checker: this.deps.address,
      claim,
      rng: this.deps.rng,
      clock: this.deps.clock,
      recompute: this.recompute(),
      ...(this.deps.key ? { key: this.deps.key } : {}),
      ...this.deps.capacity,
    });
  }

  private recompute(): Recomputer {
    if (this.deps.recompute) return this.deps.recompute;
    // created now, started on its first job: a checker that never verifies a proof starts no thread
    return (this.pool ??= new RecomputePool());
  }

  private async send(p: ReportPayload): Promise<boolean> {
    try {
      // a reason past the ledger's limit would get the whole report refused, the vote lost (a
      // refutation naming a claimed place of 80 characters four times, say)
      await this.deps.report(p.reason === undefined ? p : { ...p, reason: clampReason(p.reason) });
      this.stats.reports[p.check]++;
      return true;
    } catch (e) {
      if (!isAethirError(e)) throw e;
      this.stats.rejected++;
      this.deps.log?.(`checker ${this.deps.address.slice(0, 12)}: ${p.check} report rejected: ${e.message}`);
      return false;
    }
  }
}

function capacityReason(c: Container, r: CapacityResult): string {
  const gpu = c.spec.gpus[0]!;
  const claim = `${c.spec.gpus.length}x ${gpu.model} ${Math.round(gpu.memoryMiB / 1024)} GB`;
  const cls = classOf({ model: gpu.model });
  return r.ok
    ? `claims ${claim} (class ${cls}): ${r.reason}`
    : `claims ${claim} (class ${cls}) but ${failureWords(r)}: ${r.reason}`;
}

/** `text` cut to the ledger's REPORT_REASON_MAX at a whole character, ending in "…" where cut. */
export function clampReason(text: string): string {
  if (text.length <= REPORT_REASON_MAX) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > REPORT_REASON_MAX - 1) break;
    out += ch;
  }
  return `${out}…`;
}

function failureWords(r: CapacityResult): string {
  switch (r.code) {
    case 'deadline':
      return `did not finish the ${r.n}×${r.n} challenge within ${r.deadlineMs} ms`;
    case 'memory':
      return 'could not hold the claimed memory at once';
    case 'spot-check':
      return 'answered with results that are not the product';
    case 'spawn':
    case 'startup':
    case 'crash':
    case 'timeout':
      return 'did not answer the capacity challenge';
    default:
      return 'failed the capacity challenge';
  }
}
