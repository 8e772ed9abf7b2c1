import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../src/bus/bus.js';
import { SeededRng, systemClock } from '../../../src/core/index.js';
import {
  busProverChannel,
  checkCapacityOverBus,
  receivedFromReply,
} from '../../../src/checker/capacity-bus-channel.js';
import {
  cpuProverCommand,
  CpuProverSession,
  handlerChannel,
  openRows,
  prove,
  spawnProver,
  type CheckerMessage,
  type ProverChannel,
  type ProverMessage,
  type Proof,
} from '../../../src/capacity/index.js';
import { ledgerCheckerGate, serveChecks } from '../../../src/container/check-server.js';
import { keyPairFromSeed } from '../../../src/core/keys.js';
import {
  SimulatedGpuMemory,
  inProcessProverChannel,
  simulatedGpuProver,
} from '../../../src/container/simulated-gpu.js';

/** A prover in this process that answers each checker message with `handle` (a cheater's); null: no answer. */
function scripted(handle: (m: CheckerMessage) => ProverMessage | null): ProverChannel {
  return handlerChannel(new CpuProverSession().ready(), (m) => handle(m) ?? new Promise<never>(() => {}));
}

/**
 * A spawned CPU prover whose end the test can see (close() resolves once the process is gone);
 * `args`: its command-line options (e.g. --max-memory-mib).
 */
function trackedCpuProvers(args: readonly string[] = []) {
  const made: Array<{ closed: boolean }> = [];
  const factory = () => {
    const inner = spawnProver(cpuProverCommand(args), { killAfterMs: 500 });
    const rec = { closed: false };
    made.push(rec);
    const channel: ProverChannel = {
      send: (m) => inner.send(m),
      receive: (t) => inner.receive(t),
      close: async () => {
        await inner.close();
        rec.closed = true;
      },
      stderrTail: () => inner.stderrTail?.() ?? '',
    };
    return channel;
  };
  return { made, factory };
}

const stops: Array<() => void> = [];
afterEach(() => {
  while (stops.length) stops.pop()!();
});

function serve(bus: MemoryBus, container: string, opts: Parameters<typeof serveChecks>[2] = {}) {
  const stop = serveChecks(bus, container, opts);
  stops.push(stop);
  return stop;
}

const small = { n: 128, deadlineMs: 5000 } as const;

describe('capacity over the bus: the spawned CPU prover on the container', () => {
  it('passes an honest container on several seeds, and kills each prover', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = trackedCpuProvers();
    serve(bus, 'c-honest', { prover: factory });
    for (const seed of [1, 2, 3]) {
      const r = await checkCapacityOverBus({
        bus,
        container: 'c-honest',
        checker: 'checker-1',
        claim: { memoryMiB: 64 },
        rng: new SeededRng(seed),
        clock: systemClock,
        ...small,
      });
      expect(r, r.reason).toMatchObject({ ok: true, code: 'passed', n: 128, prover: { prover: 'cpu' } });
      expect(r.proveMs).toBeLessThanOrEqual(r.deadlineMs);
    }
    expect(made).toHaveLength(3);
    expect(made.every((m) => m.closed)).toBe(true);
  }, 30_000);

  it('a host that admits only ledger checkers: the checker with its key passes; without it, or with a stranger’s, nobody answered (spawn)', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = trackedCpuProvers();
    const key = keyPairFromSeed('bus-channel:checker');
    const stranger = keyPairFromSeed('bus-channel:stranger');
    serve(bus, 'c-gated', {
      prover: factory,
      admitStart: ledgerCheckerGate({
        container: 'c-gated',
        clock: systemClock,
        checkers: async () => [key.address],
      }),
    });
    const run = (checker: string, k?: typeof key) =>
      checkCapacityOverBus({
        bus,
        container: 'c-gated',
        checker,
        claim: { memoryMiB: 64 },
        rng: new SeededRng(7),
        clock: systemClock,
        ...(k ? { key: k } : {}),
        ...small,
      });
    expect(await run(key.address)).toMatchObject({
      ok: false,
      code: 'spawn',
      reason: expect.stringMatching(/refused: the start is not signed/),
    });
    expect(await run(stranger.address, stranger)).toMatchObject({
      ok: false,
      code: 'spawn',
      reason: expect.stringMatching(/is not a checker of the ledger/),
    });
    expect(made).toHaveLength(0);
    const r = await run(key.address, key);
    expect(r, r.reason).toMatchObject({ ok: true, code: 'passed' });
    expect(made).toHaveLength(1);
  }, 30_000);

  it('a rows answer bigger than one message comes in parts, each small enough for NATS and the API', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = trackedCpuProvers();
    // n = 128: one opened row with its proof is ~1.5 KB of JSON; parts of 4 KB make ~12 replies
    serve(bus, 'c-parts', { prover: factory, rowsPartBytes: 4096 });
    const sizes: number[] = [];
    const seen = { more: 0 };
    const spy = bus.request.bind(bus);
    bus.request = async (subject, data, o) => {
      const reply = await spy(subject, data, o);
      const m = (data as { message?: { type?: string } }).message;
      if (m?.type === 'open' || m?.type === 'more') sizes.push(JSON.stringify(reply).length);
      if (m?.type === 'more') seen.more++;
      return reply;
    };
    const r = await checkCapacityOverBus({
      bus,
      container: 'c-parts',
      checker: 'checker-1',
      claim: {},
      memoryMiB: null,
      rng: new SeededRng(7),
      clock: systemClock,
      ...small,
    });
    expect(r, r.reason).toMatchObject({ ok: true, code: 'passed', k: 32 });
    expect(seen.more).toBeGreaterThan(3);
    for (const size of sizes) expect(size).toBeLessThan(4096 + 2048);
    expect(made.every((m) => m.closed)).toBe(true);
  }, 30_000);

  // The prover may say at most 16 GiB free, whatever this machine has: it fails on memory before
  // it allocates anything (uncapped, a host with 68 GB free would really allocate them, and then
  // miss the deadline).
  it('fails a container that claims an H100 but proves on this CPU (capped at 16 GiB free) on memory, quickly, and kills the prover', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = trackedCpuProvers(['--max-memory-mib', '16384']);
    serve(bus, 'c-fake-h100', { prover: factory });
    const t0 = performance.now();
    const r = await checkCapacityOverBus({
      bus,
      container: 'c-fake-h100',
      checker: 'checker-1',
      claim: { model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
      rng: new SeededRng('h100'),
      clock: systemClock,
    });
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(r.ok).toBe(false);
    expect(r.code, r.reason).toBe('memory');
    expect(r.n).toBe(16_384);
    expect(r.reason).toMatch(/cpu prover: cannot hold 69325 MiB at once: \d+ MiB free on this host/);
    expect(Number(/(\d+) MiB free on this host/.exec(r.reason)![1])).toBeLessThanOrEqual(16_384);
    expect(made).toHaveLength(1);
    expect(made[0]!.closed).toBe(true);
  }, 20_000);
});

describe('capacity over the bus: SIMULATED GPU memory', () => {
  // Scaled down 48×: a "24 GB" device has 512 MiB; the rtx4090 class must hold 85% of its claim.
  const GB24 = 512;
  const GB80 = Math.round((80 / 24) * GB24);
  const check = (bus: MemoryBus, container: string, memoryMiB: number, seed: number | string) =>
    checkCapacityOverBus({
      bus,
      container,
      checker: 'checker-1',
      claim: { gpuClass: 'rtx4090', memoryMiB },
      rng: new SeededRng(seed),
      clock: systemClock,
      ...small,
    });

  it('fails a container claiming 80 GB on a 24 GB device, passes one claiming 24 GB', async () => {
    const bus = new MemoryBus({ validate: true });
    const big = new SimulatedGpuMemory(GB24);
    const ok = new SimulatedGpuMemory(GB24);
    serve(bus, 'c-claims-80', { prover: simulatedGpuProver(big) });
    serve(bus, 'c-claims-24', { prover: simulatedGpuProver(ok) });

    const liar = await check(bus, 'c-claims-80', GB80, 'liar');
    expect(liar).toMatchObject({ ok: false, code: 'memory' });
    expect(liar.reason).toMatch(/cannot hold 1450 MiB at once: 512 MiB free on its device/);

    const honest = await check(bus, 'c-claims-24', GB24, 'honest');
    expect(honest, honest.reason).toMatchObject({
      ok: true,
      prover: { prover: 'simulated-gpu', device: 'SIMULATED GPU (512 MiB)' },
    });
    // every session gave its memory back
    expect(big.usedMiB()).toBe(0);
    expect(ok.usedMiB()).toBe(0);
  }, 30_000);

  it('two containers sharing one device, challenged at once, do not both pass; on two devices both do', async () => {
    const claim = 400; // each must hold 340 MiB: 680 > 512
    const bus = new MemoryBus({ validate: true });
    const shared = new SimulatedGpuMemory(GB24);
    serve(bus, 'c-share-a', { prover: simulatedGpuProver(shared) });
    serve(bus, 'c-share-b', { prover: simulatedGpuProver(shared) });
    const [a, b] = await Promise.all([
      check(bus, 'c-share-a', claim, 'a'),
      check(bus, 'c-share-b', claim, 'b'),
    ]);
    expect([a, b].filter((r) => r.ok).length).toBeLessThanOrEqual(1);
    expect([a, b].some((r) => r.code === 'memory')).toBe(true);
    expect(shared.usedMiB()).toBe(0);

    const bus2 = new MemoryBus({ validate: true });
    serve(bus2, 'c-own-a', { prover: simulatedGpuProver(new SimulatedGpuMemory(GB24)) });
    serve(bus2, 'c-own-b', { prover: simulatedGpuProver(new SimulatedGpuMemory(GB24)) });
    const [c, d] = await Promise.all([
      check(bus2, 'c-own-a', claim, 'a'),
      check(bus2, 'c-own-b', claim, 'b'),
    ]);
    expect(c, c.reason).toMatchObject({ ok: true });
    expect(d, d.reason).toMatchObject({ ok: true });
  }, 30_000);
  it('the throughput proof over the bus, before the memory proof: prepare, work, open of the digests; a prover that skips rows fails', async () => {
    const workProof = { n: 64, pool: 2, products: 3, deadlineMs: 60_000, prepareTimeoutMs: 60_000 };
    const memoryProof = {
      ...{ tiles: 2, m: 64, depth: 128, groups: 300, perGroup: 16 },
      ...{ fillDeadlineMs: 60_000, readDeadlineMs: 60_000 },
    };
    const bus = new MemoryBus({ validate: true });
    serve(bus, 'c-work', { prover: simulatedGpuProver(new SimulatedGpuMemory(GB24)) });
    serve(bus, 'c-lazy', {
      prover: () => inProcessProverChannel({ computeWorkRow: (g) => g % 4 !== 0, ready: { prover: 'lazy' } }),
    });
    const opts = {
      checker: 'checker-1',
      claim: { gpuClass: 'h100' as const },
      memoryMiB: null,
      workProof,
      verifiedWorkRows: 16,
      memoryProof,
      ...small,
    };
    const ok = await checkCapacityOverBus({
      bus,
      container: 'c-work',
      rng: new SeededRng('wp-1'),
      clock: systemClock,
      ...opts,
    });
    expect(ok, ok.reason).toMatchObject({ ok: true, work: { products: 3 }, memory: { tiles: 2 } });
    expect(ok.reason).toMatch(/3 products of n = 64 in \d+ ms of 60000 ms, 16 rows verified; 2 tiles/);
    const lazy = await checkCapacityOverBus({
      bus,
      container: 'c-lazy',
      rng: new SeededRng('wp-2'),
      clock: systemClock,
      ...opts,
    });
    expect(lazy).toMatchObject({
      ok: false,
      code: 'throughput',
      reason: expect.stringMatching(/digest is not that of the product's row/),
    });
  }, 30_000);
  it('the memory proof over the bus: a device with room for the tiles passes, one without fails with memory', async () => {
    // 8 tiles of 128² int32 (512 KiB) with depth 256; reads of 2,000 groups of 32 words
    const memoryProof = {
      tiles: 8,
      m: 128,
      depth: 256,
      groups: 2000,
      perGroup: 32,
      fillDeadlineMs: 60_000,
      readDeadlineMs: 60_000,
    };
    const bus = new MemoryBus({ validate: true });
    const roomy = new SimulatedGpuMemory(GB24);
    const tiny = new SimulatedGpuMemory(0.25);
    serve(bus, 'c-roomy', { prover: simulatedGpuProver(roomy) });
    serve(bus, 'c-tiny', { prover: simulatedGpuProver(tiny) });
    const opts = {
      checker: 'checker-1',
      claim: { gpuClass: 'rtx4090' as const },
      memoryMiB: null,
      memoryProof,
      ...small,
    };
    const ok = await checkCapacityOverBus({
      bus,
      container: 'c-roomy',
      rng: new SeededRng('mp-1'),
      clock: systemClock,
      ...opts,
    });
    expect(ok, ok.reason).toMatchObject({ ok: true, memory: { tiles: 8 } });
    expect(ok.reason).toMatch(
      /8 tiles \(1 MiB\) filled in \d+ ms, read in \d+ ms of 60000 ms, 16 groups verified/,
    );
    const bad = await checkCapacityOverBus({
      bus,
      container: 'c-tiny',
      rng: new SeededRng('mp-2'),
      clock: systemClock,
      ...opts,
    });
    expect(bad).toMatchObject({
      ok: false,
      code: 'memory',
      reason: expect.stringMatching(/cannot hold the 1 MiB of tiles: 0.25 MiB free/),
    });
    expect(roomy.usedMiB()).toBe(0);
    expect(tiny.usedMiB()).toBe(0);
  }, 30_000);
});

describe('capacity over the bus: cheaters', () => {
  const run = (bus: MemoryBus, container: string, seed: number | string) =>
    checkCapacityOverBus({
      bus,
      container,
      checker: 'checker-1',
      claim: {},
      memoryMiB: null,
      rng: new SeededRng(seed),
      clock: systemClock,
      ...small,
    });

  it('fails made-up results: a random root and random rows', async () => {
    const bus = new MemoryBus({ validate: true });
    const rng = new SeededRng('liar');
    const hex = () => Array.from({ length: 8 }, () => rng.nextU32().toString(16).padStart(8, '0')).join('');
    serve(bus, 'c-made-up', {
      prover: () =>
        scripted((m) => {
          if (m.type === 'challenge') return { type: 'commitment', id: m.id, root: hex(), elapsedMs: 1 };
          if (m.type === 'open')
            return {
              type: 'rows',
              rows: m.indices.map((index) => ({
                index,
                row: Array.from({ length: 128 }, () => rng.int(-1000, 1000)),
                proof: [{ hash: hex(), side: 'left' as const }],
              })),
            };
          return null;
        }),
    });
    const r = await run(bus, 'c-made-up', 'made-up');
    expect(r).toMatchObject({ ok: false, code: 'spot-check' });
  });

  it('fails a replayed commitment: the answer to an earlier challenge', async () => {
    const bus = new MemoryBus({ validate: true });
    let first: Proof | null = null;
    serve(bus, 'c-replay', {
      prover: () => {
        let mine: Proof | null = null;
        return scripted((m) => {
          if (m.type === 'challenge') {
            mine = first ?? prove(m); // proves once, then replays that proof
            first = mine;
            return { type: 'commitment', id: m.id, root: mine.root, elapsedMs: 1 };
          }
          if (m.type === 'open' && mine) return { type: 'rows', rows: openRows(mine, m.indices) };
          return null;
        });
      },
    });
    const honest = await run(bus, 'c-replay', 'replay-1');
    expect(honest, honest.reason).toMatchObject({ ok: true });
    const replayed = await run(bus, 'c-replay', 'replay-2');
    expect(replayed).toMatchObject({ ok: false, code: 'spot-check' });
  });
});

describe('capacity over the bus: failures are results, never throws', () => {
  it('nothing serving the container: a spawn failure that names the bus error', async () => {
    const bus = new MemoryBus({ validate: true });
    const r = await checkCapacityOverBus({
      bus,
      container: 'c-nobody',
      checker: 'checker-1',
      claim: {},
      rng: new SeededRng(9),
      clock: systemClock,
      ...small,
    });
    expect(r).toMatchObject({ ok: false, code: 'spawn', prover: null });
    expect(r.reason).toMatch(/UNAVAILABLE: no responder for check\.c-nobody/);
  });

  it('a container that goes away mid-check: a crash, not a hang', async () => {
    const bus = new MemoryBus({ validate: true });
    let stop = () => {};
    stop = serve(bus, 'c-vanish', {
      prover: () =>
        scripted((m) => {
          if (m.type === 'challenge') queueMicrotask(stop);
          return null;
        }),
    });
    const r = await checkCapacityOverBus({
      bus,
      container: 'c-vanish',
      checker: 'checker-1',
      claim: {},
      memoryMiB: null,
      rng: new SeededRng(10),
      clock: systemClock,
      n: 128,
      deadlineMs: 2000,
    });
    expect(r).toMatchObject({ ok: false, code: 'crash' });
    expect(r.reason).toMatch(/on the container: the session ended/);
  });

  it('a TIMEOUT on the bus is a closed channel', async () => {
    const bus = new MemoryBus({ validate: true });
    stops.push(bus.serve('check.c-slow', () => new Promise(() => {})));
    const ch = busProverChannel(bus, 'c-slow', { checker: 'k', session: 's1', requestTimeoutMs: 50 });
    const r = await ch.receive(5000);
    expect(r).toMatchObject({ kind: 'closed', started: false });
    expect((r as { reason: string }).reason).toMatch(/TIMEOUT/);
    await ch.close();
  });

  it('maps every reply shape, and anything else to invalid', () => {
    expect(receivedFromReply({ message: { type: 'ready', version: 1, prover: 'cpu' } })).toMatchObject({
      kind: 'message',
      message: { type: 'ready' },
    });
    expect(receivedFromReply({ message: { type: 'nope' } })).toMatchObject({ kind: 'invalid' });
    expect(receivedFromReply({ closed: 'exited with code 1', started: true })).toMatchObject({
      kind: 'closed',
      started: true,
    });
    expect(receivedFromReply({ invalid: 'hello', error: 'not JSON' })).toMatchObject({
      kind: 'invalid',
      line: 'hello',
    });
    expect(receivedFromReply({ timeout: 100 })).toEqual({ kind: 'timeout' });
    expect(receivedFromReply(null)).toMatchObject({ kind: 'invalid' });
    expect(receivedFromReply({ what: 1 })).toMatchObject({ kind: 'invalid' });
  });
});
