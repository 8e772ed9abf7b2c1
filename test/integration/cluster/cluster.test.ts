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

  it('four concurrent 1-GPU rents on three single-GPU containers never share a GPU', async () => {
    const { c, apiA, apiB } = net;
    const containerIds = new Set(net.containers.map((n) => n.address));
    // Long enough that the four overlap: at most three can hold a GPU at once.
    const work = ['node', '-e', 'setTimeout(()=>console.log("done"),4000)'];
    const rents = ['g-1', 'g-2', 'g-3', 'g-4'].map((u, i) =>
      c.rent(c.user(u), i % 2 ? apiB.api : apiA.api, work, { gpus: 1 }),
    );
    // While they run: no container ever has more GPUs leased than it has.
    let overbooked: unknown = null;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const { containers } = await getJson<{
          containers: Array<{ id: string; gpusTotal: number; gpusLeased: number }>;
        }>(`${apiA.api}/v1/containers`).catch(() => ({ containers: [] }));
        for (const x of containers) if (x.gpusLeased > x.gpusTotal || x.gpusLeased < 0) overbooked ??= x;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const results = await Promise.all(rents.map((r) => r.result));
    polling = false;
    await poll;
    expect(overbooked).toBeNull();

    const ok = results.filter((r) => r.code === 0);
    expect(ok.length, results.map((r) => r.stderr).join('\n')).toBeGreaterThanOrEqual(1);
    for (const r of ok) {
      expect(r.stdout).toContain('done\n');
      expect(containerIds.has(r.summary!.container)).toBe(true);
    }
    // A rent that did not get a GPU failed for want of capacity, not for anything else.
    for (const r of results.filter((x) => x.code !== 0)) {
      expect(r.error?.code, r.stdout + r.stderr).toMatch(/^(NO_MATCH|CAPACITY_EXHAUSTED)$/);
      if (r.error?.code === 'NO_MATCH') expect(r.error.message).toMatch(/busy/);
    }

    // From the ledger: the GPU leases of each container never overlap in time.
    const all = await leases(apiB.api);
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
