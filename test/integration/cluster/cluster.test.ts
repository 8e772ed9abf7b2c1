/**
 * A whole scale-out network in OS processes: 2 API nodes, 2 indexers, 3 checkers and 3 single-GPU
 * containers over one NATS JetStream log. Users rent through either API node; the ledger never
 * books one GPU twice; every replica ends at the same state root at the same height.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getJson, leases, startStandardCluster, type LeaseView, type StandardCluster } from './harness.js';

let net: StandardCluster;
let failed = false;

beforeAll(async () => {
  net = await startStandardCluster('cl', ['dev-a', 'dev-b', 'g-1', 'g-2', 'g-3', 'g-4']);
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') {
    failed = true;
    console.error(net?.c.logs());
  }
});

afterAll(async () => {
  await net?.c.destroy({ keep: failed || Boolean(process.env.AETHIR_TEST_KEEP) });
  if (failed) console.error(`cluster directory kept: ${net?.c.dir}`);
}, 60_000);

describe('a scale-out network of separate processes', () => {
  it('runs a CPU rent through API node A and a GPU rent through API node B', async () => {
    const { c, apiA, apiB } = net;
    // offers through an API node without an indexer: answered by an indexer over NATS, reserving nothing
    const offers = await getJson<{
      total: number;
      offers: Array<{ gpusFree: number; container: { pricePerHour: string } }>;
    }>(`${apiA.api}/v1/offers?q=${encodeURIComponent('num_gpus>=1 sandbox=false')}&limit=2`);
    expect(offers.total).toBe(3);
    expect(offers.offers.map((o) => o.gpusFree)).toEqual([1, 1]);
    const cpu = c.rent(c.user('dev-a'), apiA.api, ['node', '-e', 'console.log(6*7)']);
    const gpu = c.rent(c.user('dev-b'), apiB.api, ['node', '-e', 'console.log([1,2,3].map(x=>x*x).join())'], {
      gpus: 1,
    });
    const [r1, r2] = await Promise.all([cpu.result, gpu.result]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain('42\n');
    expect(r1.summary).toMatchObject({ status: 'closed', exitCode: 0 });
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain('1,4,9\n');
    expect(r2.summary).toMatchObject({ status: 'closed', exitCode: 0 });

    // Both API nodes see both leases, closed, with the GPU count each asked for.
    for (const api of [apiA.api, apiB.api]) {
      const l1 = await getJson<LeaseView>(`${api}/v1/leases/${r1.summary!.lease}`);
      const l2 = await getJson<LeaseView>(`${api}/v1/leases/${r2.summary!.lease}`);
      expect(l1).toMatchObject({ status: 'closed', gpus: 0, user: c.user('dev-a').key.address, exitCode: 0 });
      expect(l2).toMatchObject({ status: 'closed', gpus: 1, user: c.user('dev-b').key.address, exitCode: 0 });
      expect(BigInt(l2.charged)).toBeGreaterThan(0n);
      expect(BigInt(l2.charged)).toBeLessThanOrEqual(BigInt(l2.escrow));
    }
  });

  it('four concurrent 1-GPU rents on three single-GPU containers: three run at once, none shares a GPU', async () => {
    const { c, apiA, apiB } = net;
    const containerIds = new Set(net.containers.map((n) => n.address));
    // Long enough that the four overlap (a loser's re-match included): at most three can hold a GPU at once.
    const work = ['node', '-e', 'setTimeout(()=>console.log("done"),8000)'];
    // Two indexers each hold their own reservations, so two users may be sent to the same GPU: the
    // log gives it to one, the other is told CAPACITY_EXHAUSTED and re-matches (as a user would).
    const rematched: string[] = [];
    const rent = async (u: string, i: number) => {
      for (let attempt = 0; ; attempt++) {
        const r = await c.rent(c.user(u), i % 2 ? apiB.api : apiA.api, work, { gpus: 1 }).result;
        if (r.error?.code !== 'CAPACITY_EXHAUSTED' || attempt === 3) return r;
        rematched.push(u);
        await new Promise((res) => setTimeout(res, 300));
      }
    };
    const rents = ['g-1', 'g-2', 'g-3', 'g-4'].map(rent);
    // While they run: no container ever has more GPUs leased than it has. Every poll must answer:
    // a failed poll would hide an over-booking, so failures are counted and must be none.
    let overbooked: unknown = null;
    let polling = true;
    let polls = 0;
    const pollErrors: string[] = [];
    let mostLeasedAtOnce = 0;
    const poll = (async () => {
      while (polling) {
        try {
          const { containers } = await getJson<{
            containers: Array<{ id: string; gpusTotal: number; gpusLeased: number }>;
          }>(`${apiA.api}/v1/containers`);
          polls++;
          const ours = containers.filter((x) => containerIds.has(x.id));
          if (ours.length !== containerIds.size) pollErrors.push(`saw ${ours.length} of the GPU containers`);
          for (const x of containers) if (x.gpusLeased > x.gpusTotal || x.gpusLeased < 0) overbooked ??= x;
          mostLeasedAtOnce = Math.max(
            mostLeasedAtOnce,
            ours.reduce((n, x) => n + x.gpusLeased, 0),
          );
        } catch (e) {
          pollErrors.push((e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const results = await Promise.all(rents);
    polling = false;
    await poll;
    expect(overbooked).toBeNull();
    expect(pollErrors).toEqual([]);
    expect(polls).toBeGreaterThan(10);

    // all three GPUs were put to use: three rents (at least) ran to completion
    const ok = results.filter((r) => r.code === 0);
    expect(
      ok.length,
      `re-matched: ${rematched.join(', ')}\n` + results.map((r) => r.stdout + r.stderr).join('\n'),
    ).toBeGreaterThanOrEqual(3);
    for (const r of ok) {
      expect(r.stdout).toContain('done\n');
      expect(containerIds.has(r.summary!.container)).toBe(true);
    }
    // ...at the same time: from the ledger's open and close times, three leases were open at once
    // (and the API saw all three GPUs leased together)
    const all = await leases(apiB.api);
    const won = ok.map((r) => all.find((l) => l.id === r.summary!.lease)!);
    const openAt = (t: number) => won.filter((l) => l.openedAt <= t && t < l.closedAt!).length;
    expect(Math.max(...won.map((l) => openAt(l.openedAt)))).toBeGreaterThanOrEqual(3);
    expect(new Set(won.map((l) => l.container)).size).toBe(3);
    expect(mostLeasedAtOnce).toBe(3);
    // A rent that did not get a GPU (after re-matching) failed for want of capacity, nothing else.
    for (const r of results.filter((x) => x.code !== 0)) {
      expect(r.error?.code, r.stdout + r.stderr).toMatch(/^(NO_MATCH|CAPACITY_EXHAUSTED)$/);
      if (r.error?.code === 'NO_MATCH') expect(r.error.message).toMatch(/busy/);
    }

    // From the ledger: the GPU leases of each container never overlap in time.
    const gpuLeases = all.filter((l) => l.gpus > 0);
    expect(gpuLeases.every((l) => l.status === 'closed')).toBe(true);
    for (const id of containerIds) {
      const mine = gpuLeases.filter((l) => l.container === id).sort((a, b) => a.openedAt - b.openedAt);
      for (let i = 1; i < mine.length; i++)
        expect(
          mine[i]!.openedAt,
          `leases ${mine[i - 1]!.id} and ${mine[i]!.id} on ${id}`,
        ).toBeGreaterThanOrEqual(mine[i - 1]!.closedAt!);
    }
    // Every successful rent is one of those leases; every GPU is free again.
    for (const r of ok) expect(gpuLeases.some((l) => l.id === r.summary!.lease)).toBe(true);
    const { containers } = await getJson<{ containers: Array<{ id: string; gpusLeased: number }> }>(
      `${apiB.api}/v1/containers`,
    );
    for (const x of containers.filter((y) => containerIds.has(y.id))) expect(x.gpusLeased).toBe(0);
  });

  it('every node reports the same state root at the same height once quiet', async () => {
    const { c, all } = net;
    expect(all).toHaveLength(10);
    const head = await c.converged(all);
    expect(head.height).toBeGreaterThan(0);
    // And that height is the whole log.
    expect(await c.logHeight()).toBeGreaterThanOrEqual(head.height);
    const statuses = await Promise.all(all.map((n) => n.status()));
    expect(new Set(statuses.map((s) => s.chainId))).toEqual(new Set([c.chainId]));
  });
});
