import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CITIES,
  ManualClock,
  SeededRng,
  ath,
  keyPairFromSeed,
  signAsContainer,
  type KeyPair,
} from '../../../src/core/index.js';
import { parseGenesis, signReceipt, type ContainerSpec, type Location } from '../../../src/ledger/index.js';
import { SqliteChainStore } from '../../../src/store/index.js';
import { MemoryBus } from '../../../src/bus/index.js';
import {
  CheckerService,
  DEFAULT_BOUNDS,
  ModelNetwork,
  PEER_RTT_SUBJECT,
  signPeerRtt,
  simulatedLandmarks,
  type CheckCadence,
} from '../../../src/checker/index.js';
import {
  RecomputePool,
  type ProverChannel,
  type Recomputer,
  type WorkProofParams,
} from '../../../src/capacity/index.js';
import { clampReason, type CheckerServiceDeps } from '../../../src/checker/service.js';
import { REPORT_REASON_MAX } from '../../../src/ledger/modules/checks/payloads.js';
import { inProcessProverChannel, serveChecks, subjects } from '../../../src/container/index.js';
import { Chain, InProcessNetwork, locationOf } from '../../../src/node/index.js';
import { TxSender } from '../../../src/sdk/index.js';

// A real chain and bus, a manual clock, seven genesis checkers (N = 1: three per container) with
// their CheckerServices, and containers that are only keys on the ledger plus what this test has
// them say on the bus. Everything that would wait is driven by advancing the clock and ticking.

const CHAIN = 'checker-service-test';
const checkerKeys = Array.from({ length: 7 }, (_, i) => keyPairFromSeed(`svc-test:checker-${i}`));
const user = keyPairFromSeed('svc-test:user');
const PLACES = [
  'Frankfurt, DE',
  'Ashburn, US',
  'Singapore, SG',
  'Tokyo, JP',
  'Sao Paulo, BR',
  'London, GB',
  'Sydney, AU',
];
const OFFLINE_MS = 5_000;
const cadence: CheckCadence = {
  reconfirmMs: 60_000,
  probeMs: 1_000,
  qosMs: 10_000,
  locationMs: 60_000,
  capacityMs: 3_600_000,
  capacitySlotMs: 5_000,
};

let clock: ManualClock;
let chain: Chain;
let network: InProcessNetwork;
let bus: MemoryBus;
let world: ModelNetwork;
let services: CheckerService[];
let stops: Array<() => void>;

const cpuSpec = (name: string): ContainerSpec => ({
  source: 'probed',
  gpus: [],
  cpu: { model: `CPU of ${name}`, cores: 4 },
  memoryMiB: 8192,
  os: 'linux test',
});

/** The 7 checkers on the shared bus; `peers`: they share signed measurements and multilaterate. */
function startServices(peers = false, extra: Partial<CheckerServiceDeps> = {}): CheckerService[] {
  return checkerKeys.map((k, i) => {
    const sender = new TxSender(k, network);
    return new CheckerService({
      address: k.address,
      chainId: CHAIN,
      ledger: () => chain.ledger,
      report: (p) => sender.send('checker.report', { ...p }),
      bus,
      clock,
      rng: new SeededRng(`svc-test:rng-${i}`),
      place: locationOf(PLACES[i]!),
      network: world,
      landmarks: simulatedLandmarks(CITIES),
      ...(peers ? { peerKey: k } : {}),
      offlineAfterMs: OFFLINE_MS,
      cadence,
      // small challenges; the memory part of the claim is tested in capacity/bus-channel.test.ts
      capacity: { n: 64, deadlineMs: 5_000, memoryMiB: null },
      ...extra,
    }).start();
  });
}

/** A fresh chain (and the network the checkers send through) with these genesis parameters. */
function openChain(params: Record<string, unknown> = {}): void {
  chain = Chain.open(new SqliteChainStore(':memory:'), clock, () =>
    parseGenesis({
      chainId: CHAIN,
      time: clock.now(),
      allocations: [{ address: user.address, amount: ath(1_000_000).toString() }],
      checkers: checkerKeys.map((k) => k.address),
      pools: { rewards: ath(1_000_000).toString(), checkers: ath(1_000_000).toString() },
      ...(Object.keys(params).length ? { params } : {}),
    }),
  );
  network = new InProcessNetwork(chain);
}

beforeEach(() => {
  clock = new ManualClock();
  openChain();
  bus = new MemoryBus({ validate: true });
  world = new ModelNetwork({ rng: new SeededRng('svc-test:world') });
  stops = [];
  services = startServices();
});

afterEach(async () => {
  for (const s of stops) s();
  await Promise.all(services.map((s) => s.stop()));
  chain.close();
});

/** Registers and stakes a container (`city`: its place's name instead of the gazetteer's); returns its key. */
async function register(
  name: string,
  where: string,
  spec: ContainerSpec = cpuSpec(name),
  city?: string,
): Promise<KeyPair> {
  const key = keyPairFromSeed(`svc-test:${name}`);
  containerKeys.set(key.address, key);
  const location: Location = { ...locationOf(where), ...(city ? { city } : {}) };
  const need = chain.ledger.requiredStakeOf({ spec });
  await new TxSender(user, network).send('transfer', { to: key.address, amount: need + ath(10) });
  const s = new TxSender(key, network);
  await s.send('container.register', { name, spec, location, pricePerHour: ath(1) });
  await s.send('container.stake', { amount: need });
  return key;
}

/** The keys of the containers `register` made, by address: their heartbeats are signed. */
const containerKeys = new Map<string, KeyPair>();

function heartbeat(id: string, runningLeases = 0): void {
  const body = { container: id, at: clock.now(), freeGpus: 0, runningLeases };
  const key = containerKeys.get(id);
  bus.publish(subjects.heartbeat(id), key ? signAsContainer(key, 'heartbeat', CHAIN, body) : body);
}

async function tickAll(): Promise<void> {
  for (const s of services) await s.tick();
  await Promise.all(services.map((s) => s.idle()));
}

/**
 * Two containers claiming Frankfurt, the liar SIMULATED in Singapore; three ticks a second apart
 * (one location round). Returns their addresses.
 */
async function frankfurtPair(): Promise<{ liar: string; honest: string }> {
  const liar = (await register('liar', 'Frankfurt, DE')).address;
  const honest = (await register('honest', 'Frankfurt, DE')).address;
  const sg = locationOf('Singapore, SG');
  world.place(liar, { lat: sg.lat, lon: sg.lon });
  for (let i = 0; i < 3; i++) {
    heartbeat(liar);
    heartbeat(honest);
    await tickAll();
    clock.advance(1_000);
  }
  return { liar, honest };
}

describe('CheckerService', () => {
  it('only the checkers the ledger assigns report on a container, and none is ever rejected', async () => {
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await register(`host-${i}`, PLACES[i % PLACES.length]!)).address);
    for (let round = 0; round < 4; round++) {
      for (const id of ids) heartbeat(id);
      await tickAll();
      clock.advance(1_000);
    }
    for (const id of ids) {
      const c = chain.ledger.container(id)!;
      expect(c.status).toBe('online');
      const assigned = chain.ledger.assignedCheckers(id, clock.now());
      expect(assigned).toHaveLength(3);
      // every liveness vote on the log about this container came from one of its three checkers
      for (const b of chain.store.blocks(1))
        for (const tx of b.txs)
          if (tx.type === 'checker.report' && (tx.payload as { container: string }).container === id)
            expect(assigned).toContain(tx.from);
    }
    expect(services.reduce((n, s) => n + s.stats.rejected, 0)).toBe(0);
  });

  it("probes answered in a host's name by another key, or unsigned, count for nothing", async () => {
    const gone = (await register('gone-host', 'Frankfurt, DE')).address;
    const stranger = keyPairFromSeed('svc-test:stranger');
    // the host is gone; strangers on the bus see the probes and answer them in its name
    stops.push(serveChecks(bus, gone, { clock, signer: { key: stranger, chainId: () => CHAIN } }));
    stops.push(serveChecks(bus, gone, { clock }));
    for (let i = 0; i < 4; i++) {
      await tickAll();
      clock.advance(1_000);
    }
    expect(services.reduce((n, s) => n + s.stats.probes.sent, 0)).toBeGreaterThan(0);
    expect(services.reduce((n, s) => n + s.stats.probes.answered, 0)).toBe(0);
    // nor do heartbeats in its name: unsigned, or signed by the stranger
    const body = { container: gone, at: clock.now(), freeGpus: 0, runningLeases: 0 };
    bus.publish(subjects.heartbeat(gone), body);
    bus.publish(subjects.heartbeat(gone), signAsContainer(stranger, 'heartbeat', CHAIN, body));
    for (const s of services) expect(s.liveness.tick([{ id: gone }]).some((r) => r.online)).toBe(false);
  });

  it('a heartbeat from the far future does not silence the host: only the host can sign one', async () => {
    const id = (await register('hb-host', 'Frankfurt, DE')).address;
    const stranger = keyPairFromSeed('svc-test:stranger');
    const future = { container: id, at: clock.now() + 1e12, freeGpus: 0, runningLeases: 0 };
    bus.publish(subjects.heartbeat(id), signAsContainer(stranger, 'heartbeat', CHAIN, future));
    // the host's own heartbeats go on past the offline threshold: every one of them still counts
    for (let t = 0; t <= OFFLINE_MS + 2_000; t += 1_000) {
      clock.advance(1_000);
      heartbeat(id);
    }
    for (const s of services)
      expect(s.liveness.tick([{ id }])).toEqual([expect.objectContaining({ online: true })]);
  });

  it('direct probes keep a container online without heartbeats, and their loss is in the reason', async () => {
    const key = await register('probed-host', 'Frankfurt, DE');
    const id = key.address;
    stops.push(serveChecks(bus, id, { clock, signer: { key, chainId: () => CHAIN } }));
    for (let i = 0; i < 4; i++) {
      await tickAll();
      clock.advance(1_000);
    }
    const c = chain.ledger.container(id)!;
    expect(c.status).toBe('online');
    expect(c.checks.liveness?.reason).toMatch(/probes answered this epoch: \d+ of \d+/);
    const assigned = chain.ledger.assignedCheckers(id, clock.now());
    for (const s of services.filter((s) => assigned.includes(s.address)))
      expect(s.stats.probes.answered).toBeGreaterThan(0);
  });

  it('location: a container claiming Frankfurt from Singapore is caught, an honest one in Frankfurt is not', async () => {
    const { liar, honest } = await frankfurtPair();
    const l = chain.ledger.container(liar)!;
    expect(l.checks.location).toMatchObject({ ok: false });
    expect(l.suspended).toBe(true);
    expect(l.suspendedReason).toMatch(/^location check failed: RTT from .* claims Frankfurt, DE/);
    expect(l.slashed).toBeGreaterThan(0n);
    const h = chain.ledger.container(honest)!;
    expect(h.checks.location).toMatchObject({ ok: true });
    expect(h.suspended).toBe(false);
    expect(h.incidents).toEqual([]);
  });

  it('location with shared measurements: a liar whose claimed place has a name of 80 characters (the most the ledger takes) is caught; the refutation naming it, cut to 300, is not refused', async () => {
    await Promise.all(services.map((sv) => sv.stop()));
    services = startServices(true);
    const city =
      'Frankfurt am Main Sachsenhausen Nord Gallus Bahnhofsviertel Westend Ostend Bockenheim'.slice(0, 80);
    expect(city).toHaveLength(80);
    const liar = (await register('long-name-liar', 'Frankfurt, DE', undefined, city)).address;
    const sg = locationOf('Singapore, SG');
    world.place(liar, { lat: sg.lat, lon: sg.lon });
    for (let i = 0; i < 3; i++) {
      heartbeat(liar);
      await tickAll();
      clock.advance(1_000);
    }
    const l = chain.ledger.container(liar)!;
    expect(services.reduce((n, sv) => n + sv.stats.rejected, 0)).toBe(0);
    expect(l.checks.location).toMatchObject({ ok: false });
    // the refutation names the claimed place more than once: longer than the ledger takes, so cut
    expect(l.checks.location!.reason).toContain(`${city}, DE`);
    expect(l.checks.location!.reason).toHaveLength(REPORT_REASON_MAX);
    expect(l.checks.location!.reason.endsWith('…')).toBe(true);
    expect(l.suspended).toBe(true);
  });

  it('clampReason: a reason within the limit is kept; a longer one is cut at a whole character, ending in "…", 300 UTF-16 units at most', () => {
    expect(clampReason('a'.repeat(300))).toBe('a'.repeat(300));
    expect(clampReason('a'.repeat(301))).toBe(`${'a'.repeat(299)}…`);
    // an astral character (two UTF-16 units) across the cut is left out whole, never halved
    const cut = clampReason(`${'a'.repeat(298)}😀${'b'.repeat(10)}`);
    expect(cut).toBe(`${'a'.repeat(298)}…`);
    expect(cut.length).toBeLessThanOrEqual(REPORT_REASON_MAX);
    for (const text of ['é'.repeat(500), '😀'.repeat(400), `x${'東京'.repeat(300)}`]) {
      const c = clampReason(text);
      expect(c.length).toBeLessThanOrEqual(REPORT_REASON_MAX);
      expect(c.endsWith('…')).toBe(true);
      expect(text.startsWith(c.slice(0, -1))).toBe(true);
      expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(c)).toBe(false); // no lone high surrogate
    }
  });

  it('location with shared measurements: in the first round each vote waits for the other assigned checkers and multilaterates over all of them', async () => {
    await Promise.all(services.map((sv) => sv.stop()));
    services = startServices(true);
    const t0 = clock.now();
    const { liar, honest } = await frankfurtPair();
    const assigned = chain.ledger.assignedCheckers(honest, t0, 'location').length;
    expect(assigned).toBeGreaterThan(1);
    // one round, and the deciding votes judged every assigned checker's RTT together
    const h = chain.ledger.container(honest)!;
    expect(h.checks.location).toMatchObject({ ok: true });
    expect(h.checks.location!.reason).toMatch(
      new RegExp(`^Frankfurt, DE fits all ${assigned} vantage points`),
    );
    const l = chain.ledger.container(liar)!;
    expect(l.checks.location).toMatchObject({ ok: false });
    expect(l.checks.location!.reason).toMatch(new RegExp(`of ${assigned} vantage points\\)$`));
    expect(l.suspended).toBe(true);
  });

  it("location with shared measurements: one dishonest checker's false RTT refutes an honest host; the honest votes say they rest on it, and the ledger suspends without a slash (slashes where the parameter is absent)", async () => {
    for (const robustOnly of [true, false]) {
      await Promise.all(services.map((sv) => sv.stop()));
      chain.close();
      openChain(robustOnly ? { locationSlashNeedsRobust: true } : {});
      services = startServices(true);
      const honest = (await register('honest', 'Frankfurt, DE')).address;
      const assigned = chain.ledger.assignedCheckers(honest, clock.now(), 'location');
      // the dishonest one: an assigned checker away from Frankfurt, which says the host answered
      // it in 1 ms (a host within a few dozen km of it) and votes so
      const i = checkerKeys.findIndex(
        (k) => assigned.includes(k.address) && PLACES[checkerKeys.indexOf(k)] !== 'Frankfurt, DE',
      );
      const liar = checkerKeys[i]!;
      await services[i]!.stop();
      const live = services.filter((_, j) => j !== i);
      const { lat, lon } = locationOf(PLACES[i]!);
      bus.publish(
        PEER_RTT_SUBJECT,
        signPeerRtt(
          {
            chainId: CHAIN,
            checker: liar.address,
            container: honest,
            lat,
            lon,
            rttMs: 1,
            bounds: DEFAULT_BOUNDS,
            at: clock.now(),
          },
          liar,
        ),
      );
      await new TxSender(liar, network).send('checker.report', {
        container: honest,
        check: 'location',
        ok: false,
        observedAt: clock.now(),
        reason: `RTT from ${PLACES[i]} is 1 ms`,
        rttMs: 1,
      });
      for (let k = 0; k < 3; k++) {
        heartbeat(honest);
        for (const sv of live) await sv.tick();
        await Promise.all(live.map((sv) => sv.idle()));
        clock.advance(1_000);
      }
      const h = chain.ledger.container(honest)!;
      expect(h.checks.location).toMatchObject({ ok: false });
      // every honest vote refuted the claim, each saying it rests on the dishonest checker's RTT
      const honestVotes = chain.store
        .recentTxs(100, { type: 'checker.report' })
        .map((r) => r.tx)
        .filter(
          (t) => t.from !== liar.address && t.payload.container === honest && t.payload.check === 'location',
        );
      expect(honestVotes.length).toBe(assigned.length - 1);
      for (const t of honestVotes) expect(t.payload).toMatchObject({ ok: false, restsOn: liar.address });
      expect(h.suspended).toBe(true);
      if (robustOnly) {
        expect(h.slashed).toBe(0n);
        expect(h.suspendedReason).toMatch(
          /\(held only with one other checker's measurement: suspended, not slashed\)$/,
        );
      } else {
        // slashLocationBps (50%) of its required stake
        expect(h.slashed).toBe(
          (chain.ledger.requiredStakeOf(h) * BigInt(chain.ledger.params.slashLocationBps)) / 10_000n,
        );
      }
    }
  });

  it('location with shared measurements: an assigned checker that never measures holds the others back at most locationPeerWaitMs', async () => {
    await Promise.all(services.map((sv) => sv.stop()));
    services = startServices(true, { cadence: { ...cadence, locationPeerWaitMs: 5_000 } });
    const honest = (await register('honest', 'Frankfurt, DE')).address;
    const assigned = chain.ledger.assignedCheckers(honest, clock.now(), 'location');
    const silent = services.find((sv) => sv.address === assigned[0])!;
    await silent.stop();
    const live = services.filter((sv) => sv !== silent);
    const tickLive = async () => {
      for (const sv of live) await sv.tick();
      await Promise.all(live.map((sv) => sv.idle()));
    };
    const votes = () => Object.keys(chain.ledger.round(honest, 'location')?.votes ?? {}).length;
    const start = clock.now();
    while (clock.now() - start < 4_000) {
      heartbeat(honest);
      await tickLive();
      expect(votes(), `${clock.now() - start} ms after the measurements`).toBe(0);
      expect(chain.ledger.container(honest)!.checks.location).toBeUndefined();
      clock.advance(1_000);
    }
    for (let i = 0; i < 3; i++) {
      heartbeat(honest);
      await tickLive();
      clock.advance(1_000);
    }
    const h = chain.ledger.container(honest)!;
    expect(h.checks.location).toMatchObject({ ok: true });
    // judged with the vantage points that did measure
    expect(h.checks.location!.reason).toMatch(new RegExp(`fits all ${assigned.length - 1} vantage points`));
  });

  it('QoS: a host that stopped a lease it still holds open is failed (lease closed, slash); good receipts set the tier', async () => {
    const down = (await register('down-host', 'London, GB')).address;
    const good = (await register('good-host', 'London, GB')).address;
    for (let i = 0; i < 2; i++) {
      heartbeat(down);
      heartbeat(good);
      await tickAll();
      clock.advance(1_000);
    }
    const userTx = new TxSender(user, network);
    await userTx.send('escrow.deposit', { amount: ath(10_000) });
    const open = async (container: string) =>
      String(
        (
          await userTx.send('lease.open', {
            container,
            gpus: 0,
            maxDurationSec: 3600,
            maxPricePerHour: ath(1),
            workload: { command: ['sleep', '1000'] },
          })
        ).result.lease,
      );
    const bad = await open(down);
    const fine = await open(good);
    const seqs = new Map<string, number>();
    const receipt = (lease: string, ok: boolean) => {
      const seq = (seqs.get(lease) ?? 0) + 1;
      seqs.set(lease, seq);
      const l = chain.ledger.lease(lease)!;
      bus.publish(
        subjects.leaseReceipt(lease),
        signReceipt(user, CHAIN, {
          lease,
          servedMs: clock.now() - l.openedAt,
          seq,
          at: clock.now(),
          samples: [{ at: clock.now(), ok, latencyMs: 20 }],
        }),
      );
    };
    // two QoS looks a period apart (one look is not enough: a lease may be closing)
    for (let i = 0; i < 24; i++) {
      heartbeat(down, 0); // it runs nothing, but keeps the lease (and the bill) open
      heartbeat(good, 1);
      receipt(bad, false);
      receipt(fine, true);
      await tickAll();
      clock.advance(1_000);
    }
    const badLease = chain.ledger.lease(bad)!;
    expect(badLease.status).toBe('closed');
    expect(badLease.closeReason).toMatch(/service stopped/);
    const d = chain.ledger.container(down)!;
    expect(d.checks.qos).toMatchObject({ ok: false });
    expect(d.incidents.map((x) => x.check)).toContain('qos');
    expect(d.slashed).toBeGreaterThan(0n);
    const g = chain.ledger.container(good)!;
    expect(g.checks.qos).toMatchObject({ ok: true });
    expect(g.qualityTier).toBe(3);
    expect(chain.ledger.lease(fine)!.status).toBe('open');
    expect(g.incidents).toEqual([]);
  });

  it("QoS: throwaway users' 'down' receipts never slash a serving host; they lower its score and get it looked at at once", async () => {
    const host = (await register('serving-host', 'London, GB')).address;
    // the host's own check server: it answers probes with the number of leases it runs
    let running = 0;
    stops.push(serveChecks(bus, host, { clock, runningLeases: () => running }));
    for (let i = 0; i < 2; i++) {
      heartbeat(host);
      await tickAll();
      clock.advance(1_000);
    }
    // two fresh keys, funded with just enough for one lease each
    const sybils = [keyPairFromSeed('svc-test:sybil-1'), keyPairFromSeed('svc-test:sybil-2')];
    const leases: string[] = [];
    for (const k of sybils) {
      await new TxSender(user, network).send('transfer', { to: k.address, amount: ath(2) });
      const tx = new TxSender(k, network);
      await tx.send('escrow.deposit', { amount: ath(1) });
      const r = await tx.send('lease.open', {
        container: host,
        gpus: 0,
        maxDurationSec: 3600,
        maxPricePerHour: ath(1),
        workload: { command: ['sleep', '1000'] },
      });
      leases.push(String(r.result.lease));
    }
    running = 2;
    const seqs = new Map<string, number>();
    const reportDown = () =>
      leases.forEach((lease, i) => {
        const seq = (seqs.get(lease) ?? 0) + 1;
        seqs.set(lease, seq);
        bus.publish(
          subjects.leaseReceipt(lease),
          signReceipt(sybils[i]!, CHAIN, {
            lease,
            servedMs: clock.now() - chain.ledger.lease(lease)!.openedAt,
            seq,
            at: clock.now(),
            samples: [{ at: clock.now(), ok: false, latencyMs: 20 }],
          }),
        );
      });
    // the first QoS look, a period after the leases opened
    for (let i = 0; i < 11; i++) {
      heartbeat(host, 2);
      await tickAll();
      clock.advance(1_000);
    }
    const qosReports = () => services.reduce((a, x) => a + x.stats.reports.qos, 0);
    clock.advance(3_000); // a quarter period and more since the last look; the next is 7 s away
    const quiet = qosReports();
    for (const x of services) await x.tick();
    expect(qosReports()).toBe(quiet); // nothing is due without a report
    reportDown();
    for (const x of services) await x.tick();
    const assigned = chain.ledger.assignedCheckers(host, clock.now(), 'qos').length;
    expect(assigned).toBeGreaterThan(0);
    expect(qosReports() - quiet).toBe(assigned); // every assigned checker looked at once
    for (let i = 0; i < 30; i++) {
      heartbeat(host, 2);
      reportDown();
      await tickAll();
      clock.advance(1_000);
    }
    const c = chain.ledger.container(host)!;
    expect(c.slashed).toBe(0n);
    expect(c.incidents).toEqual([]);
    expect(c.checks.qos).toMatchObject({ ok: true });
    // every paid sample said down: the QoS part of its reputation is 0
    expect(chain.ledger.reputationOf(c).qos).toBe(0);
    for (const id of leases) expect(chain.ledger.lease(id)!.status).toBe('open');
  });

  it('what a checker keeps of a container goes when the container leaves; heartbeats from it are ignored after', async () => {
    const key = await register('leaving-host', 'London, GB');
    const id = key.address;
    for (let i = 0; i < 2; i++) {
      heartbeat(id);
      await tickAll();
      clock.advance(1_000);
    }
    expect(chain.ledger.container(id)!.status).toBe('online');
    const tracking = () => services.filter((s) => s.tracks(id)).length;
    expect(tracking()).toBe(services.length);
    // it unstakes everything, goes quiet (offline), and withdraws after the unbonding period
    const sender = new TxSender(key, network);
    await sender.send('container.unstake', { amount: chain.ledger.container(id)!.stake });
    clock.advance(OFFLINE_MS + 1_000);
    await tickAll();
    expect(chain.ledger.container(id)!.status).toBe('offline');
    expect(tracking()).toBe(services.length); // still unbonding: not gone yet
    clock.advance(chain.ledger.params.unbondingMs);
    await sender.send('container.withdraw', {});
    await tickAll();
    expect(chain.ledger.container(id)).toMatchObject({ stake: 0n, unbonding: 0n, status: 'offline' });
    expect(tracking()).toBe(0);
    heartbeat(id);
    expect(tracking()).toBe(0);
  });

  it('capacity: each slot one assigned checker challenges; a container nobody answers for fails only after two misses', async () => {
    const gpuSpec = (name: string): ContainerSpec => ({
      ...cpuSpec(name),
      source: 'declared',
      gpus: [{ model: 'NVIDIA GeForce RTX 4090', memoryMiB: 24_564 }],
    });
    const honest = (await register('prover-host', 'Paris, FR', gpuSpec('prover-host'))).address;
    const silent = (await register('silent-host', 'Paris, FR', gpuSpec('silent-host'))).address;
    const cpuOnly = (await register('cpu-host', 'Paris, FR')).address;
    const provers: ProverChannel[] = [];
    stops.push(
      serveChecks(bus, honest, {
        clock,
        prover: () => {
          const p = inProcessProverChannel({ clock });
          provers.push(p);
          return p;
        },
      }),
    );
    const challengers: string[] = [];
    const before = new Map(services.map((s) => [s.address, s.stats.capacity.checks]));
    for (let i = 0; i < 40 && !chain.ledger.container(silent)!.checks.capacity; i++) {
      heartbeat(honest);
      heartbeat(silent);
      heartbeat(cpuOnly);
      await tickAll();
      clock.advance(1_000);
    }
    for (const s of services)
      if (s.stats.capacity.checks > before.get(s.address)!) challengers.push(s.address);
    const h = chain.ledger.container(honest)!;
    expect(h.checks.capacity).toMatchObject({ ok: true });
    expect(h.suspended).toBe(false);
    expect(provers.length).toBeGreaterThanOrEqual(2);
    // a host that claims no GPU has no capacity claim to prove
    expect(chain.ledger.container(cpuOnly)!.checks.capacity).toBeUndefined();
    const s = chain.ledger.container(silent)!;
    expect(s.checks.capacity).toMatchObject({ ok: false });
    expect(s.suspendedReason).toMatch(/did not answer the capacity challenge/);
    for (const a of challengers)
      expect([
        ...chain.ledger.assignedCheckers(honest, clock.now(), 'capacity'),
        ...chain.ledger.assignedCheckers(silent, clock.now(), 'capacity'),
      ]).toContain(a);
  });

  describe('capacity proofs verified off the event loop', () => {
    // a throughput proof small enough for the in-process prover; its recomputation is what moves
    const WORK: WorkProofParams = {
      n: 128,
      pool: 2,
      products: 2,
      deadlineMs: 5_000,
      prepareTimeoutMs: 5_000,
    };
    const gpuHost = async (name: string) => {
      const spec: ContainerSpec = {
        ...cpuSpec(name),
        source: 'declared',
        gpus: [{ model: 'NVIDIA GeForce RTX 4090', memoryMiB: 24_564 }],
      };
      const id = (await register(name, 'Paris, FR', spec)).address;
      stops.push(serveChecks(bus, id, { clock, prover: () => inProcessProverChannel({ clock }) }));
      return id;
    };
    const runSlots = async (id: string, slots: number, until: () => boolean) => {
      for (let i = 0; i < slots && !until(); i++) {
        heartbeat(id);
        await tickAll();
        await Promise.all(services.map((s) => s.idle()));
        clock.advance(1_000);
      }
    };

    it("a verification worker that crashes is the checker's error: no vote on the container, and a later slot passes it", async () => {
      await Promise.all(services.map((s) => s.stop()));
      const crashing = new RecomputePool({
        script: new URL('../capacity/fixtures/crashing-recompute-worker.mjs', import.meta.url),
      });
      let broken = true;
      // while `broken`, every recomputation lands on the seed the fixture worker exits on
      const recompute: Recomputer = {
        freivalds: (s, n, v) => crashing.freivalds(s, n, v),
        productRows: (s, n, i) => crashing.productRows(s, n, i),
        workDigests: (p, w, params, rows) =>
          crashing.workDigests(broken ? 'de'.repeat(32) : p, w, params, rows),
        groupSums: (f, r, params, groups) => crashing.groupSums(f, r, params, groups),
      };
      const logs: string[] = [];
      services = startServices(false, {
        capacity: { n: 64, deadlineMs: 5_000, memoryMiB: null, workProof: WORK, verifiedWorkRows: 4 },
        recompute,
        log: (l) => logs.push(l),
      });
      try {
        const id = await gpuHost('crash-host');
        const errors = () => services.reduce((n, s) => n + s.stats.capacity.checkerErrors, 0);
        await runSlots(id, 40, () => errors() >= 2);
        expect(errors()).toBeGreaterThanOrEqual(2);
        // no verdict and no vote: the container is neither failed nor suspended for the checker's crash
        const c = chain.ledger.container(id)!;
        expect(c.checks.capacity).toBeUndefined();
        expect(c.suspended).toBe(false);
        expect(services.reduce((n, s) => n + s.stats.reports.capacity, 0)).toBe(0);
        expect(logs.some((l) => /could not verify the throughput proof: .*exited with code 7/.test(l))).toBe(
          true,
        );
        // the pool recovers: the same workers, the checker's real seeds, and the container passes
        broken = false;
        await runSlots(id, 40, () => chain.ledger.container(id)!.checks.capacity !== undefined);
        expect(chain.ledger.container(id)!.checks.capacity).toMatchObject({ ok: true });
      } finally {
        await crashing.close();
      }
    });

    it('by default each checker verifies in its own worker thread, which stop() terminates', async () => {
      await Promise.all(services.map((s) => s.stop()));
      services = startServices(false, {
        capacity: { n: 64, deadlineMs: 5_000, memoryMiB: null, workProof: WORK, verifiedWorkRows: 4 },
      });
      const id = await gpuHost('pool-host');
      expect(services.every((s) => s.verificationThreads === 0)).toBe(true); // none before a verification
      await runSlots(id, 40, () => chain.ledger.container(id)!.checks.capacity !== undefined);
      expect(chain.ledger.container(id)!.checks.capacity).toMatchObject({ ok: true });
      const verifiers = services.filter((s) => s.verificationThreads > 0);
      expect(verifiers.length).toBeGreaterThanOrEqual(2);
      for (const s of verifiers) expect(s.stats.capacity.passed).toBeGreaterThan(0);
      await Promise.all(services.map((s) => s.stop()));
      expect(services.map((s) => s.verificationThreads)).toEqual(services.map(() => 0));
    });
  });
});
