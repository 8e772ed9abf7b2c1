import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRng, ath, keyPairFromSeed, type KeyPair } from '../../src/core/index.js';
import type {
  Account,
  CheckerRecord,
  Container,
  ContainerSpec,
  Lease,
  Location,
} from '../../src/ledger/index.js';
import {
  CAPACITY_PROTOCOL_VERSION,
  cpuProverCommand,
  handlerChannel,
  commitTo,
  openRows,
  prove,
  type CheckerMessage,
  type Proof,
  type ProverChannel,
  type ProverMessage,
} from '../../src/capacity/index.js';
import {
  SimulatedGpuMemory,
  inProcessProverChannel,
  simulatedGpuProver,
  subjects,
  type ContainerAgent,
  type HeartbeatMsg,
} from '../../src/container/index.js';
import { locationOf, type RunningNode } from '../../src/node/index.js';
import { ApiClient, TxSender, UsageReceipts } from '../../src/sdk/index.js';
import { short } from '../../src/cli/common.js';
import { cli, startCheckedDevnet, tempHome, waitFor } from './helpers.js';

/**
 * Checkers catch every container that lies, and never punish an honest one (docs/verification.md,
 * "Cheaters and their tests"). Each seed runs a whole devnet (the chain, three checkers at
 * Frankfurt, Ashburn and Singapore, the bus) with honest containers and one container per way of
 * cheating side by side, on shortened cadences and a small capacity challenge (n = 128); every
 * detection must end in its ledger consequence (slash, suspension, leases closed and refunded),
 * with the reason in plain words in the API and in `aethir container status`. At the end of each
 * run, no honest container has an incident, a suspension or a slash, no checker ever reported an
 * honest container down or failed its capacity, and an honest checker was counted incorrect only
 * in two known cases (KNOWN BUGS, see expectCheckersHonest). A lying checker runs on a devnet of
 * its own (see below).
 *
 * SIMULATED: GPU memory is a counter (SimulatedGpuMemory) and network round trips come from the
 * latency model (devnet.world); everything else (challenges, Merkle commitments, Freivalds' check,
 * the ledger's referee) is the real code.
 */

const SEEDS = (process.env.CHEATERS_SEEDS ?? 'amber,birch,cedar').split(',');
/** the capacity challenge of every check in these runs: n = 128 proves in milliseconds */
const CAPACITY = { n: 128 };
const CADENCE = {
  probeMs: 500,
  qosMs: 1_000,
  // one location round per container in a run: every container is located as soon as it appears
  locationMs: 600_000,
  // a container is re-challenged 4 s after its last decided capacity round (the replayer needs two)
  capacityMs: 4_000,
  capacitySlotMs: 1_500,
};
const FLAGS = {
  epochSeconds: 10,
  heartbeatIntervalMs: 250,
  offlineAfterMs: 2_500,
  checkIntervalMs: 200,
  settleIntervalMs: 1_000,
};
/**
 * The H100 cheater's prover: the built-in CPU prover, spawned (never the GPU prover, which a host
 * with CUDA PyTorch would pick for a GPU claim), saying at most 16 GiB free whatever this machine
 * has: it refuses the 69325 MiB (85%) an H100 claim must hold, and allocates none of it.
 */
const H100_ON_CPU_MAX_MIB = 16_384;

const cpuSpec = (): ContainerSpec => ({
  source: 'probed',
  gpus: [],
  cpu: { model: 'test CPU', cores: 4 },
  memoryMiB: 8192,
  os: 'linux test',
});
const gpuSpec = (model: string, memoryMiB: number, uuid?: string): ContainerSpec => ({
  source: 'declared',
  gpus: [{ model, memoryMiB, ...(uuid ? { uuid } : {}) }],
  cpu: { model: 'test CPU', cores: 8 },
  memoryMiB: 65_536,
  os: 'linux test',
});

// ---------------------------------------------------------------------------------------------
// Provers of the cheaters (in this process, speaking the capacity protocol)
// ---------------------------------------------------------------------------------------------

/**
 * A ProverChannel whose answers come from `handle` (on a later macrotask, as a real prover's do);
 * `ready` first. `onClose` runs once when the session ends.
 */
function scriptedChannel(
  name: string,
  handle: (m: CheckerMessage) => ProverMessage | Promise<ProverMessage>,
  onClose: () => void = () => {},
): ProverChannel {
  return handlerChannel({ type: 'ready', version: CAPACITY_PROTOCOL_VERSION, prover: name }, handle, onClose);
}

/**
 * (4) Made-up results: a C of random integers in range, committed to properly (every Merkle proof
 * checks out), so only the arithmetic (Freivalds' check of the opened rows) can catch it.
 */
function madeUpProver(seed: string): () => ProverChannel {
  const rng = new SeededRng(`made-up:${seed}`);
  return () => {
    let proof: Proof | null = null;
    return scriptedChannel('made-up', (m) => {
      if (m.type === 'challenge') {
        const c = new Int32Array(m.n * m.n);
        for (let i = 0; i < c.length; i++) c[i] = rng.int(-m.n * 16_384, m.n * 16_384);
        proof = commitTo(m, c);
        // it says it held the memory, too (the checker cannot tell: docs/verification.md)
        return { type: 'commitment', id: m.id, root: proof.root, elapsedMs: 1, memoryMiB: m.memoryMiB };
      }
      if (m.type === 'open' && proof) return { type: 'rows', rows: openRows(proof, m.indices) };
      return { type: 'error', code: 'protocol', message: 'unexpected message' };
    });
  };
}

/**
 * (6) A replayer: it proves honestly (and keeps its last proof) until the checkers have passed it
 * once, then answers every new challenge with that old proof, the id swapped for the new one. It
 * switches only at the start of a capacity round (no vote in it yet), so each round sees one
 * behaviour and the honest checkers never disagree about it.
 */
function replayingProver(node: () => RunningNode, id: () => string): () => ProverChannel {
  let recorded: Proof | null = null;
  let replaying = false;
  const shouldReplay = () => {
    if (replaying) return true;
    const ledger = node().devnet.chain.ledger;
    const passed = ledger.container(id())?.checks.capacity?.ok === true;
    const fresh = Object.keys(ledger.round(id(), 'capacity')?.votes ?? {}).length === 0;
    return (replaying = recorded !== null && passed && fresh);
  };
  return () => {
    let current: Proof | null = null;
    return scriptedChannel('replayer', (m) => {
      if (m.type === 'challenge') {
        if (shouldReplay()) current = recorded!;
        else current = recorded = prove(m);
        return { type: 'commitment', id: m.id, root: current.root, elapsedMs: 1, memoryMiB: m.memoryMiB };
      }
      if (m.type === 'open' && current) return { type: 'rows', rows: openRows(current, m.indices) };
      return { type: 'error', code: 'protocol', message: 'unexpected message' };
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Looking at the outcome
// ---------------------------------------------------------------------------------------------

async function apiView(url: string, id: string): Promise<Record<string, any>> {
  const r = await fetch(`${url}/v1/containers/${id}`);
  expect(r.status).toBe(200);
  return (await r.json()) as Record<string, any>;
}

/** The ledger consequence of a failed capacity or location check, and its reason in the API. */
async function expectSuspended(
  node: RunningNode,
  id: string,
  check: 'capacity' | 'location',
  reason: RegExp,
): Promise<Container> {
  const ledger = () => node.devnet.chain.ledger;
  const c = await waitFor(
    async () => {
      const x = ledger().container(id)!;
      return x.suspended && x.checks[check]?.ok === false && x.incidents.some((i) => i.check === check) && x;
    },
    30_000,
    `the ${check} cheater ${id} to be suspended`,
  ).catch((e: Error) => {
    // say where it stands: which checks it had, and why it is (not) suspended
    const x = ledger().container(id);
    const state = x && {
      status: x.status,
      suspended: x.suspended,
      suspendedReason: x.suspendedReason,
      checks: x.checks,
      incidents: x.incidents.map((i) => `${i.check}: ${i.reason}`),
    };
    throw new Error(
      `${e.message}; the ledger has: ${JSON.stringify(state, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
    );
  });
  expect(c.suspendedReason).toMatch(new RegExp(`^${check} check failed: `));
  expect(c.suspendedReason).toMatch(reason);
  expect(c.checks[check]!.reason).toMatch(reason);
  expect(c.slashed).toBeGreaterThan(0n);
  const incident = c.incidents.find((i) => i.check === check)!;
  expect(incident.reason).toMatch(reason);
  expect(incident.slashed).toBeGreaterThan(0n);
  expect(ledger().isServing(c)).toBe(false);
  expect(ledger().reputationOf(c).score).toBeLessThan(1);
  // the API says it, in the same words
  const v = await apiView(node.url, id);
  expect(v.suspended).toBe(true);
  expect(v.serving).toBe(false);
  expect(v.suspendedReason).toMatch(reason);
  expect(v.checks[check]).toMatchObject({ ok: false });
  expect(BigInt(v.slashed)).toBeGreaterThan(0n);
  expect(v.incidents.map((i: { reason: string }) => i.reason).join('\n')).toMatch(reason);
  return c;
}

/** `aethir container status --network URL --address ID`, as an operator runs it. */
async function containerStatus(node: RunningNode, home: string, id: string): Promise<string> {
  const r = await cli(['container', 'status', '--network', node.url, '--address', id], { AETHIR_HOME: home });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** `aethir containers ls`' word in the LOCATED column for each of `ids` (the table a renter reads) */
async function locatedWords(node: RunningNode, home: string, ids: string[]): Promise<string[]> {
  const r = await cli(['containers', 'ls', '--api', node.url], { AETHIR_HOME: home });
  expect(r.code, r.stderr).toBe(0);
  const [head, ...rows] = r.stdout.split('\n');
  const at = head!.indexOf('LOCATED');
  expect(at).toBeGreaterThan(0);
  return ids.map((id) => {
    const row = rows.find((l) => l.includes(short(id)));
    expect(row, `${id} in\n${r.stdout}`).toBeDefined();
    return row!.slice(at).split(' ')[0]!;
  });
}

// ---------------------------------------------------------------------------------------------

describe.each(SEEDS)('cheaters beside honest containers (seed %s)', (seed) => {
  const rng = new SeededRng(`cheaters:${seed}`);
  const key = (name: string): KeyPair => keyPairFromSeed(`cheaters:${seed}:${name}`);
  const cities = ['Amsterdam, NL', 'London, GB', 'Ashburn, US', 'Tokyo, JP', 'Sydney, AU', 'Sao Paulo, BR'];
  const where = (): Location => locationOf(rng.pick(cities));
  const home = tempHome();
  let node: RunningNode;
  /** name → address of the containers that never lie */
  const honest: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const agents: Record<string, ContainerAgent> = {};
  // GPU hosts whose provers really allocate what they hold are scaled down (SIMULATED devices)
  const deviceMiB = rng.pick([192, 256, 320]);
  const price = ath(1);
  let reports: Report[] = [];
  /** the devnet's last 200 log lines */
  const logged: string[] = [];

  const add = async (
    name: string,
    spec: ContainerSpec,
    location: Location,
    extra: Partial<Parameters<RunningNode['devnet']['addContainer']>[0]> = {},
  ): Promise<string> => {
    const agent = await node.devnet.addContainer({
      key: key(name),
      name: `${name}-${seed}`,
      spec,
      location,
      price,
      ...extra,
    });
    ids[name] = agent.id;
    agents[name] = agent;
    return agent.id;
  };
  const online = (names: string[]) =>
    waitFor(
      async () => names.every((n) => node.devnet.chain.ledger.container(ids[n]!)?.status === 'online'),
      30_000,
      `${names.join(', ')} to be online`,
    );

  beforeAll(async () => {
    node = await startCheckedDevnet(home, FLAGS, {
      cadence: CADENCE,
      capacity: CAPACITY,
      // what the devnet's checkers say (a rejected report, a failed check), for a failure's message
      log: (line) => void (logged.push(line) > 200 && logged.shift()),
    });
    reports = collectReports(node);
    honest.local = node.devnet.localContainerId();
    // Honest: a GPU host proving with the built-in CPU prover (a child process) on a claim it can
    // hold, a GPU host whose SIMULATED device holds what it claims, and a CPU host.
    honest.stock = await add('honest-stock-prover', gpuSpec('NVIDIA T4', deviceMiB), where());
    honest.gpu = await add('honest-gpu', gpuSpec('NVIDIA GeForce RTX 4090', deviceMiB), where(), {
      prover: simulatedGpuProver(new SimulatedGpuMemory(deviceMiB)),
    });
    honest.cpu = await add('honest-cpu', cpuSpec(), where(), { prover: () => inProcessProverChannel() });
    // (1) an H100 claim proven on this CPU by the built-in CPU prover (at most 16 GiB free)
    await add('h100-on-cpu', gpuSpec('NVIDIA H100 80GB HBM3', 81_559), where(), {
      prover: () => cpuProverCommand(['--max-memory-mib', String(H100_ON_CPU_MAX_MIB)]),
    });
    // (2) claims 80 GB of VRAM on a SIMULATED 24 GB device (nothing is allocated: the device refuses)
    await add('vram-80-of-24', gpuSpec('NVIDIA A100 80GB PCIe', 80 * 1024), where(), {
      prover: simulatedGpuProver(new SimulatedGpuMemory(24 * 1024)),
    });
    // (3) claims Frankfurt, sits in Singapore
    const sg = locationOf('Singapore, SG');
    await add('frankfurt-from-singapore', cpuSpec(), locationOf('Frankfurt, DE'), {
      place: { lat: sg.lat, lon: sg.lon },
      prover: () => inProcessProverChannel(),
    });
    // (4) made-up results
    await add('made-up', gpuSpec('NVIDIA L4', 24 * 1024), where(), { prover: madeUpProver(seed) });
    // (5) goes offline while serving a lease: honest until the test cuts it off
    await add('goes-offline', cpuSpec(), where(), { prover: () => inProcessProverChannel() });
    // (6) replays an old answer once it has passed
    await add('replayer', gpuSpec('NVIDIA T4', 16 * 1024), where(), {
      prover: replayingProver(
        () => node,
        () => ids.replayer!,
      ),
    });
    await online(Object.keys(ids));
  });

  afterAll(async () => {
    await node?.stop();
  });

  it('(7) two containers on one GPU: a shared UUID is refused; with other UUIDs, neither holds its claim', async () => {
    const d = node.devnet;
    // One SIMULATED device, and on it what each container keeps resident while it runs (its
    // driver context, its processes: a tenth of the device here). Each claims the whole device;
    // alone it could hold the 85% a challenge asks (90% free), beside the other it cannot (80%).
    const shared = new SimulatedGpuMemory(deviceMiB);
    const resident = Math.ceil(deviceMiB / 10);
    expect(shared.reserve(resident) && shared.reserve(resident)).toBe(true);
    await add('shared-first', gpuSpec('NVIDIA GeForce RTX 4090', deviceMiB, `GPU-${seed}-a`), where(), {
      prover: simulatedGpuProver(shared),
    });
    // The ledger refuses a second registration of a GPU UUID it already has.
    const dup = key('shared-second');
    await new TxSender(d.developer, d.network).send('transfer', { to: dup.address, amount: ath(10) });
    await expect(
      new TxSender(dup, d.network).send('container.register', {
        name: `shared-second-${seed}`,
        spec: gpuSpec('NVIDIA GeForce RTX 4090', deviceMiB, `GPU-${seed}-a`),
        location: where(),
        pricePerHour: price,
      }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: `GPU GPU-${seed}-a is already registered by container shared-first-${seed}`,
    });
    expect(d.chain.ledger.container(dup.address)).toBeUndefined();
    // With another UUID it registers, and neither can hold what it claims.
    await add('shared-second', gpuSpec('NVIDIA GeForce RTX 4090', deviceMiB, `GPU-${seed}-b`), where(), {
      prover: simulatedGpuProver(shared),
    });
    const free = deviceMiB - 2 * resident;
    for (const name of ['shared-first', 'shared-second'])
      await expectSuspended(
        node,
        ids[name]!,
        'capacity',
        new RegExp(
          `could not hold the claimed memory at once: .*cannot hold ${Math.floor(deviceMiB * 0.85)} MiB at once: ${free} MiB free on its device`,
        ),
      );
    expect(shared.usedMiB()).toBe(2 * resident); // every challenge gave back what it took
  });

  it('(1) claims an H100 but computes on a CPU (its prover capped at 16 GiB free): capacity fails, slashed, suspended', async () => {
    const id = ids['h100-on-cpu']!;
    const reason =
      /claims 1x NVIDIA H100 80GB HBM3 80 GB \(class h100\) but could not hold the claimed memory at once: .*cpu prover: cannot hold 69325 MiB at once: \d+ MiB free on this host/;
    const c = await expectSuspended(node, id, 'capacity', reason);
    const free = Number(/cannot hold 69325 MiB at once: (\d+) MiB free/.exec(c.suspendedReason!)![1]);
    expect(free).toBeLessThanOrEqual(H100_ON_CPU_MAX_MIB);
    // the whole required stake of an H100 host (slashSpecBps = 100%)
    expect(c.slashed).toBe(node.devnet.chain.ledger.requiredStakeOf(c));
    if (seed === SEEDS[0]) {
      const out = await containerStatus(node, home, id);
      expect(out).toContain('SUSPENDED');
      expect(out).toMatch(/why {7}capacity check failed: claims 1x NVIDIA H100 80GB HBM3 80 GB/);
      expect(out).toMatch(/could not hold the claimed memory at once/);
      expect(out).toMatch(/incidents .* capacity: capacity check failed: .*; slashed [\d.,]+ ATH/);
    }
  });

  it('(2) claims 80 GB of VRAM with 24: capacity fails on memory; the honest twin passes', async () => {
    const reason =
      /claims 1x NVIDIA A100 80GB PCIe 80 GB \(class a100\) but could not hold the claimed memory at once: .*cannot hold 69632 MiB at once: 24576 MiB free on its device/;
    await expectSuspended(node, ids['vram-80-of-24']!, 'capacity', reason);
    const twin = await waitFor(
      async () => node.devnet.chain.ledger.container(honest.gpu!)!.checks.capacity,
      30_000,
      'the honest GPU host to be challenged',
    );
    expect(twin.ok, twin.reason).toBe(true);
    expect(twin.reason).toMatch(
      /claims 1x NVIDIA GeForce RTX 4090 \d+ GB \(class rtx4090\): 32 of 128 rows verified/,
    );
  });

  it('(3) claims Frankfurt but sits in Singapore: location fails, slashed, suspended', async () => {
    const id = ids['frankfurt-from-singapore']!;
    await expectSuspended(node, id, 'location', /RTT from .*(claims Frankfurt, DE|in Frankfurt, DE)/);
    if (seed === SEEDS[0]) {
      const out = await containerStatus(node, home, id);
      expect(out).toContain('SUSPENDED');
      expect(out).toMatch(/why {7}location check failed: RTT from /);
      expect(await locatedWords(node, home, [id])).toEqual(['refuted']);
    }
  });

  it('(4) answers with made-up results: the spot check catches them', async () => {
    await expectSuspended(
      node,
      ids['made-up']!,
      'capacity',
      /but answered with results that are not the product: row \d+ is not row \d+ of A·B \(Freivalds' check\)/,
    );
  });

  it('(6) replays an old answer: passes while it proves, fails on the replay', async () => {
    const id = ids.replayer!;
    const c = await expectSuspended(
      node,
      id,
      'capacity',
      /but answered with results that are not the product: row \d+: its Merkle proof does not lead to the committed root/,
    );
    expect(c.rep.capacityPass).toBeGreaterThanOrEqual(1);
    expect(c.rep.capacityFail).toBeGreaterThanOrEqual(1);
    if (seed === SEEDS[0]) {
      const out = await containerStatus(node, home, id);
      expect(out).toMatch(/capacity +FAILED .*not the product/);
    }
  });

  it('(5) goes offline while serving a lease: the lease closes, unsettled time refunded, slashed', async () => {
    const d = node.devnet;
    const id = ids['goes-offline']!;
    const { lease, before } = await rent(node, id);
    // a cut cable: no heartbeats, no answers to probes, the workload still running on the host
    agents['goes-offline']!.partition();
    const c = await waitFor(
      async () => {
        const x = d.chain.ledger.container(id)!;
        return x.status === 'offline' && x.incidents.length > 0 && x;
      },
      30_000,
      'the checkers to mark the container offline',
    );
    expectRefunded(node, lease, before, /^container went offline; unsettled time refunded$/);
    expect(c.slashed).toBeGreaterThan(0n);
    expect(c.incidents).toHaveLength(1);
    expect(c.incidents[0]).toMatchObject({ check: 'liveness', leases: [lease.id] });
    expect(c.incidents[0]!.reason).toMatch(
      /^offline while serving: no heartbeat or probe answer for more than \d+ s/,
    );
    // downtime is slashed, not a lie about the claim: no suspension with a reason (only until the
    // stake is topped up again)
    expect(c.suspendedReason).toBeNull();
    const v = await apiView(node.url, id);
    expect(v.status).toBe('offline');
    expect(v.checks.liveness).toMatchObject({ ok: false });
    expect(v.incidents[0].reason).toMatch(/offline while serving: no heartbeat or probe answer/);
    if (seed === SEEDS[0]) {
      const out = await containerStatus(node, home, id);
      expect(out).toMatch(/liveness: offline while serving: no heartbeat or probe answer/);
      expect(out).toContain(`leases closed and refunded: ${lease.id}`);
    }
  });

  it('(8) two throwaway keys sign "down" in every receipt on an honest host: it is neither failed nor slashed, and their leases are charged for what was served', async () => {
    const d = node.devnet;
    const host = honest.cpu!;
    const api = new ApiClient(node.url);
    const funder = new TxSender(d.developer, d.network);
    const leases: Array<{ id: string; key: KeyPair; sender: TxSender; receipts: UsageReceipts }> = [];
    for (const name of ['throwaway-1', 'throwaway-2']) {
      const k = key(name);
      await funder.send('transfer', { to: k.address, amount: ath(3) });
      const sender = new TxSender(k, d.network);
      await sender.send('escrow.deposit', { amount: ath(2) });
      const r = await sender.send('lease.open', {
        container: host,
        gpus: 0,
        maxDurationSec: 600,
        maxPricePerHour: price,
        workload: { command: ['sleep', '120'] },
      });
      const id = String(r.result.lease);
      const receipts = new UsageReceipts({
        send: (x) => api.sendReceipt(x),
        key: k,
        chainId: d.config.chainId,
        lease: id,
        openedAt: d.chain.ledger.lease(id)!.openedAt,
      });
      leases.push({ id, key: k, sender, receipts });
    }
    const qosVerdicts = () => reports.filter((r) => r.container === host && r.check === 'qos');
    const before = qosVerdicts().length;
    // every sample says down, for several QoS periods (1 s each); each 'down' also asks for a re-check
    const end = Date.now() + 6_000;
    while (Date.now() < end) {
      await Promise.all(leases.map((l) => l.receipts.sign(false)));
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor(
      async () => qosVerdicts().length - before >= 6,
      15_000,
      "the checkers to judge the host's QoS",
    );
    // the host collected what the throwaway keys' own receipts acknowledge
    await waitFor(
      async () => leases.every((l) => d.chain.ledger.lease(l.id)!.charged > 0n),
      15_000,
      'the host to settle the receipts',
    );
    const judged = qosVerdicts().slice(before);
    expect(judged.every((r) => r.ok)).toBe(true);
    const c = d.chain.ledger.container(host)!;
    expect(c.slashed).toBe(0n);
    expect(c.incidents).toEqual([]);
    expect(c.checks.qos).toMatchObject({ ok: true });
    // every paid sample said down: its QoS score is 0 (reputation, not stake)
    expect(d.chain.ledger.reputationOf(c).qos).toBe(0);
    for (const l of leases) {
      const settled = d.chain.ledger.lease(l.id)!;
      expect(settled.status).toBe('open');
      expect(settled.charged).toBe((price * BigInt(settled.settledAt - settled.openedAt)) / 3_600_000n);
      expect(settled.settledAt - settled.openedAt).toBeLessThanOrEqual(settled.receiptServedMs);
      // the user ends it: charged for the time served up to then, the rest refunded
      const closed = await l.sender.send('lease.close', { lease: l.id });
      const after = d.chain.ledger.lease(l.id)!;
      expect(after.status).toBe('closed');
      expect(after.charged).toBe((price * BigInt(after.closedAt! - after.openedAt)) / 3_600_000n);
      expect(closed.result.refund).toBe((after.escrow - after.charged).toString());
    }
  });

  it('no honest container was punished; no honest checker got a strike, and one was counted incorrect only for a location dissent or a missed outage', async () => {
    const d = node.devnet;
    const ledger = () => d.chain.ledger;
    const gpuHosts = Object.values(honest).filter((id) => ledger().container(id)!.spec.gpus.length > 0);
    // every honest container has been located, every honest GPU host challenged
    const undecided = () =>
      Object.entries(honest).flatMap(([name, id]) =>
        (['location', 'capacity'] as const)
          .filter(
            (check) =>
              (check === 'location' || gpuHosts.includes(id)) && !ledger().container(id)!.checks[check],
          )
          .map(
            (check) => `${name} ${check} (open round: ${JSON.stringify(ledger().round(id, check) ?? null)})`,
          ),
      );
    await waitFor(
      async () => undecided().length === 0,
      30_000,
      'every honest container to have decided capacity and location checks',
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; undecided: ${undecided().join('; ')}; now ${Date.now()}; the devnet's last log lines: ${logged.slice(-40).join(' | ')}`,
      );
    });
    expect(gpuHosts).toHaveLength(2);
    for (const [name, id] of Object.entries(honest)) {
      const c = ledger().container(id)!;
      const what = `${name} (${id}): ${JSON.stringify(c.checks)}`;
      expect(c.status, what).toBe('online');
      expect(c.incidents, what).toEqual([]);
      expect(c.suspended, what).toBe(false);
      expect(c.suspendedReason, what).toBeNull();
      expect(c.slashed, what).toBe(0n);
      if (gpuHosts.includes(id)) expect(c.checks.capacity!.ok, what).toBe(true);
      expect(c.checks.location!.ok, what).toBe(true);
      expect(c.rep.capacityFail + c.rep.locationFail, what).toBe(0);
      expect(ledger().isServing(c), what).toBe(true);
      const v = await apiView(node.url, id);
      expect(v, what).toMatchObject({ suspended: false, serving: true, incidents: [], slashed: '0' });
    }
    if (seed === SEEDS[0])
      expect(await locatedWords(node, home, Object.values(honest))).toEqual(
        Object.values(honest).map(() => 'verified'),
      );
    expectCheckersHonest(node, reports, Object.values(honest), {
      failing: ['h100-on-cpu', 'vram-80-of-24', 'made-up'].map((n) => ids[n]!),
      replayer: ids.replayer!,
    });
  });
});

/**
 * (8) A lying checker, on a devnet of its own (a banned checker leaves two: every decision then
 * needs both, which the cheaters' runs above should not depend on). One of the three genesis
 * checkers stops checking and, through its own key, reports honest containers offline. With three
 * checkers and N = 1 all three are assigned and the quorum is 2: the two honest ones outvote it,
 * it is counted incorrect, and at the second strike it is banned (30 days): its reports are
 * refused, it is no longer assigned, and the quorum of the remaining two stays 2 (both must agree).
 */
describe.each(SEEDS.slice(0, 2))('a lying checker (seed %s)', (seed) => {
  const rng = new SeededRng(`liar:${seed}`);
  const home = tempHome();
  let node: RunningNode;
  let reports: Report[] = [];
  const honest: string[] = [];

  beforeAll(async () => {
    node = await startCheckedDevnet(home, FLAGS, {
      cadence: { ...CADENCE, reconfirmMs: 1_000 },
      capacity: CAPACITY,
    });
    reports = collectReports(node);
    honest.push(node.devnet.localContainerId());
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('is outvoted, counted incorrect, banned at the second strike, and no longer assigned', async () => {
    const d = node.devnet;
    const ledger = () => d.chain.ledger;
    const liar = d.checkers[rng.int(0, d.checkers.length - 1)]!;
    const address = liar.service.address;
    await liar.service.stop(); // it checks nothing any more: it only lies
    for (const name of ['honest-a', 'honest-b']) {
      const agent = await d.addContainer({
        key: keyPairFromSeed(`liar:${seed}:${name}`),
        name: `${name}-${seed}`,
        spec: cpuSpec(),
        location: locationOf(rng.pick(['London, GB', 'Tokyo, JP', 'Ashburn, US'])),
        price: ath(1),
        prover: () => inProcessProverChannel(),
      });
      honest.push(agent.id);
    }
    await waitFor(
      async () => honest.every((id) => ledger().container(id)?.status === 'online'),
      30_000,
      'the honest containers to be online',
    );
    // no strike before it lies (its earlier dissents, if any, were on location: never strikes)
    expect(ledger().checker(address)!.incorrectAt).toEqual([]);
    const lie = (container: string) =>
      liar.sender.send('checker.report', {
        container,
        check: 'liveness',
        ok: false,
        observedAt: d.now(),
        reason: 'no heartbeat for more than 3 s (a lie)',
      });
    const struck = (what: string, done: (r: CheckerRecord) => boolean) =>
      waitFor(async () => done(ledger().checker(address)!), 15_000, what);

    // Strike one: its vote stands alone until the honest checkers re-confirm the container online.
    const [x, y] = [honest[1]!, honest[2]!];
    const liedAt = d.now();
    expect((await lie(x)).result).toMatchObject({ decided: false });
    await struck('strike one of the lying checker', (r) => r.incorrectAt.length > 0);
    expect(ledger().container(x)!.status).toBe('online');
    expect(ledger().container(x)!.checks.liveness!.ok).toBe(true);
    // one strike on record, from this lie, and no ban yet
    const one = ledger().checker(address)!;
    expect(one.incorrectAt).toHaveLength(1);
    expect(one.incorrectAt[0]).toBeGreaterThanOrEqual(liedAt);
    expect(one.bannedUntil).toBeLessThanOrEqual(d.now());
    // Strike two: banned for checkerBanMs from the second strike, and the strike record is cleared.
    await lie(y);
    await struck('strike two (a ban) of the lying checker', (r) => r.bannedUntil > d.now());
    const rec = ledger().checker(address)!;
    const now = d.now();
    expect(rec.incorrectAt).toEqual([]);
    expect(rec.incorrectTotal).toBeGreaterThanOrEqual(one.incorrectTotal + 1);
    expect(rec.bannedUntil - ledger().params.checkerBanMs).toBeGreaterThan(one.incorrectAt[0]!);
    expect(rec.bannedUntil - ledger().params.checkerBanMs).toBeLessThanOrEqual(now);
    expect(ledger().params.checkerBanMs).toBe(30 * 24 * 3600_000);
    expect(ledger().container(y)!.status).toBe('online');
    // Its next report is refused, whatever it says.
    await expect(lie(x)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: /checker is suspended until/,
    });
    // It is no longer assigned anywhere; the two honest checkers are, and both must agree.
    for (const id of honest) {
      const assigned = ledger().assignedCheckers(id, now);
      expect(assigned).not.toContain(address);
      expect(assigned).toHaveLength(2);
      expect(ledger().quorumOf(id, now)).toBe(2);
    }
    // and they go on deciding: a fresh liveness verdict on each honest container, online
    await waitFor(
      async () => honest.every((id) => (ledger().container(id)!.checks.liveness?.at ?? 0) > now),
      15_000,
      'the honest checkers to decide again without the banned one',
    );
    for (const id of honest) {
      const c = ledger().container(id)!;
      expect(c.status).toBe('online');
      expect(c.incidents).toEqual([]);
      expect(c.slashed).toBe(0n);
      expect(c.suspended).toBe(false);
      const v = await apiView(node.url, id);
      expect(v).toMatchObject({ status: 'online', incidents: [], slashed: '0', suspended: false });
    }
    expectCheckersHonest(node, reports, honest, { failing: [] }, [address]);
    for (const c of d.checkers.filter((c) => c !== liar))
      expect(ledger().checker(c.service.address)!.bannedUntil).toBeLessThanOrEqual(d.now());
  });
});

/**
 * Opens a lease on `container` with the devnet's developer key (who signs no receipts) and waits
 * for its workload to run; `before` is the developer's account before it deposited the escrow.
 */
async function rent(node: RunningNode, container: string): Promise<{ lease: Lease; before: Account }> {
  const d = node.devnet;
  const before = d.chain.ledger.account(d.developer.address);
  const sender = new TxSender(d.developer, d.network);
  await sender.send('escrow.deposit', { amount: ath(10) });
  const opened = await sender.send('lease.open', {
    container,
    gpus: 0,
    maxDurationSec: 600,
    maxPricePerHour: d.chain.ledger.container(container)!.pricePerHour,
    workload: { command: ['sleep', '120'] },
  });
  const id = String(opened.result.lease);
  // running, and said so in a heartbeat (else the checkers see a host running none of its leases)
  let said = false;
  const off = d.bus.subscribe(subjects.heartbeat(container), (m) => {
    if ((m as HeartbeatMsg).runningLeases > 0) said = true;
  });
  try {
    await waitFor(async () => said, 15_000, `lease ${id} to run`);
  } finally {
    off();
  }
  return { lease: d.chain.ledger.lease(id)!, before };
}

/**
 * The lease closed by the ledger for `reason`. Its user signed no receipts, so nothing was ever
 * settled: it is charged exactly 0, and its whole escrow is back in the user's escrow balance (the
 * ledger takes no transaction fees: the deposit moved 10 ATH from the balance to the escrow, and
 * the escrow is back where it was plus those 10 ATH).
 */
function expectRefunded(node: RunningNode, opened: Lease, before: Account, reason: RegExp): void {
  const d = node.devnet;
  const l = d.chain.ledger.lease(opened.id)!;
  expect(l.status).toBe('closed');
  expect(l.closeReason).toMatch(reason);
  expect(l.receiptServedMs).toBe(0);
  expect(l.charged).toBe(0n);
  expect(l.hostShare).toBe(0n);
  expect(l.protocolShare).toBe(0n);
  expect(l.escrow).toBeGreaterThan(0n);
  expect(l.closedAt!).toBeLessThanOrEqual(d.now());
  const after = d.chain.ledger.account(d.developer.address);
  expect(after.escrow).toBe(before.escrow + ath(10));
  expect(after.balance).toBe(before.balance - ath(10));
}

interface Report {
  checker: string;
  container: string;
  check: string;
  ok: boolean;
  reason: string;
  /** the referee decided against it (a vote it counts incorrect, or a repeated late one) */
  overruled: boolean;
}

/** Every checker report the chain applies from now on (the API lists only the latest 200). */
function collectReports(node: RunningNode): Report[] {
  const out: Report[] = [];
  // the referee's rounds, replayed: which votes it judged against the decided verdict
  const open = new Map<string, Report[]>();
  const decided = new Map<string, boolean>();
  node.devnet.onBlock((e) => {
    for (const a of e.applied) {
      if (a.tx.tx.type !== 'checker.report') continue;
      const p = a.tx.payload as { container: string; check: string; ok: boolean; reason?: string };
      const res = a.result as { decided?: boolean; ok?: boolean; late?: boolean };
      const r: Report = {
        checker: a.tx.tx.from,
        container: p.container,
        check: p.check,
        ok: p.ok,
        reason: p.reason ?? '',
        overruled: false,
      };
      out.push(r);
      const key = `${p.container}/${p.check}`;
      if (res.late) {
        r.overruled = decided.has(key) && decided.get(key) !== r.ok;
        continue;
      }
      const votes = [...(open.get(key) ?? []).filter((v) => v.checker !== r.checker), r];
      if (!res.decided) {
        open.set(key, votes);
        continue;
      }
      for (const v of votes) v.overruled = v.ok !== res.ok;
      decided.set(key, res.ok!);
      open.delete(key);
    }
  });
  return out;
}

/**
 * What the honest checkers said, and what the referee made of it:
 *  - no checker ever reported an honest container offline, or failed an honest GPU host's capacity;
 *  - every capacity report on the cheaters that always fail is a failure, and none passes the
 *    replayer once one has failed it;
 *  - the referee overruled an honest checker (counted it incorrect: no reward) only in two known
 *    cases, and never gave one a strike (only a false liveness accusation is a strike).
 *
 * The two cases are independent measurements, not lies, so the ledger counts them incorrect (no
 * reward) but not as strikes:
 *  1. Location: a checker whose RTT cannot refute a false claim (Ashburn, for a container in
 *     Singapore claiming Frankfurt: both fit its bounds, in about half of the runs) or that drew a
 *     slow path to an honest container (about 1% of checker-container pairs in the latency model,
 *     on every re-check) votes against the majority.
 *  2. Liveness: a checker's standing "online" vote (a re-confirmation cast after the round it
 *     re-confirmed was already decided) is judged against the "offline" decision the two others
 *     reach when the container goes down later, before that checker re-votes: a missed failure.
 * No honest container is ever failed for either (that needs two of three checkers); the callers
 * assert that separately.
 */
function expectCheckersHonest(
  node: RunningNode,
  reports: readonly Report[],
  honest: readonly string[],
  cheaters: { failing: readonly string[]; replayer?: string },
  liars: readonly string[] = [],
): void {
  const ledger = node.devnet.chain.ledger;
  const name = (id: string) => ledger.container(id)?.name ?? id;
  const fromHonest = reports.filter((r) => !liars.includes(r.checker));
  const wrong = (what: string, rs: Report[]) =>
    expect(
      rs.map((r) => `${r.checker.slice(0, 12)} ${r.check} ${name(r.container)} ok=${r.ok}: ${r.reason}`),
      what,
    ).toEqual([]);
  wrong(
    'honest containers reported down, or failed on capacity',
    fromHonest.filter(
      (r) => honest.includes(r.container) && (r.check === 'liveness' || r.check === 'capacity') && !r.ok,
    ),
  );
  wrong(
    'cheaters passed',
    fromHonest.filter((r) => cheaters.failing.includes(r.container) && r.check === 'capacity' && r.ok),
  );
  if (cheaters.replayer) {
    const onReplayer = fromHonest.filter((r) => r.container === cheaters.replayer && r.check === 'capacity');
    const firstFail = onReplayer.findIndex((r) => !r.ok);
    wrong(
      'the replayer passed after a failure',
      firstFail < 0 ? [] : onReplayer.slice(firstFail).filter((r) => r.ok),
    );
  }
  // Overruled votes of honest checkers: only the two known kinds.
  const overruled = fromHonest.filter((r) => r.overruled);
  wrong(
    'honest checkers overruled on something else than an RTT or a container that changed since',
    overruled.filter(
      (r) =>
        r.check !== 'location' &&
        !(r.check === 'liveness' && r.ok && ledger.container(r.container)?.status === 'offline'),
    ),
  );
  // None of it is a strike: an honest checker is never on its way to a ban. (Its incorrect count
  // may include votes cast before this run's reports were collected, during the devnet's start.)
  for (const checker of ledger.chain.checkers) {
    if (liars.includes(checker)) continue;
    const rec = ledger.checker(checker)!;
    const mine = overruled.filter((r) => r.checker === checker);
    expect(
      rec.incorrectAt,
      `${checker}'s strikes; its overruled votes: ${JSON.stringify(
        mine.map((r) => `${r.check} ${name(r.container)} ok=${r.ok}: ${r.reason}`),
      )}`,
    ).toEqual([]);
    expect(rec.bannedUntil).toBeLessThanOrEqual(node.devnet.now());
  }
}
