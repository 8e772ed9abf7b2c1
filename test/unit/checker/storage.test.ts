import { afterEach, describe, expect, it } from 'vitest';
import {
  CANARY_BLOCKS,
  SeededRng,
  keyPairFromSeed,
  sealCanaries,
  sealCanary,
  storageProof,
  systemClock,
} from '../../../src/core/index.js';
import { MemoryBus } from '../../../src/bus/index.js';
import { challengeStorage, pickCanaries } from '../../../src/checker/index.js';
import { serveChecks } from '../../../src/container/index.js';
import { VolumeLostError } from '../../../src/container/volumes.js';

// The checker's storage challenge against the real check server on a real bus, with hosts that
// keep their canaries in memory (the honest one) or cheat in the ways a host can.

const hostA = keyPairFromSeed('storage-test:host-a').address;
const hostB = keyPairFromSeed('storage-test:host-b').address;
const checker = keyPairFromSeed('storage-test:checker').address;
const VA = 'Vaaaaaaaaaaaaaaaaaaaa';
const VB = 'Vbbbbbbbbbbbbbbbbbbbb';
const ITER = 256;

let stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops) s();
  stops = [];
});

function host(bus: MemoryBus, id: string, storage: (v: string, n: string, b: number[]) => Promise<string>) {
  stops.push(serveChecks(bus, id, { storage }));
}

/** An honest host: it answers from the canary blocks of its own volumes. */
async function honest(id: string, volumes: string[]) {
  const kept = new Map<string, Buffer[]>();
  for (const v of volumes) kept.set(v, await sealCanaries(id, v, ITER));
  return async (v: string, nonce: string, blocks: number[]) => {
    const all = kept.get(v);
    if (!all) throw new VolumeLostError(v, 'its image file is gone');
    return storageProof(
      id,
      v,
      nonce,
      blocks,
      blocks.map((i) => all[i]!),
    );
  };
}

const look = (
  bus: MemoryBus,
  container: string,
  volume: string,
  seed = 1,
  iterations = ITER,
  deadlineMs = 1_000,
) =>
  challengeStorage({
    bus,
    clock: systemClock,
    rng: new SeededRng(seed),
    checker,
    container,
    volume,
    iterations,
    deadlineMs,
  });

describe('proof of storage: the challenge', () => {
  it('an honest host proves it holds the volume; the blocks asked are a random subset', async () => {
    const bus = new MemoryBus();
    host(bus, hostA, await honest(hostA, [VA]));
    expect(await look(bus, hostA, VA)).toMatchObject({ kind: 'proved' });
    const a = pickCanaries(new SeededRng(1));
    const b = pickCanaries(new SeededRng(2));
    expect(new Set(a).size).toBe(a.length);
    expect(a.every((i) => i >= 0 && i < CANARY_BLOCKS)).toBe(true);
    expect(a).not.toEqual(b);
  });

  it('a host that deleted the image fails', async () => {
    const bus = new MemoryBus();
    host(bus, hostA, await honest(hostA, []));
    const r = await look(bus, hostA, VA);
    expect(r).toMatchObject({ kind: 'wrong' });
    expect(r.kind === 'wrong' && r.reason).toMatch(/image file is gone/);
  });

  it('a host that replays an old proof fails (a fresh nonce each look)', async () => {
    const bus = new MemoryBus();
    const real = await honest(hostA, [VA]);
    let first: { nonce: string; blocks: number[]; proof: string } | null = null;
    host(bus, hostA, async (v, nonce, blocks) => {
      if (!first) return (first = { nonce, blocks, proof: await real(v, nonce, blocks) }).proof;
      return first.proof; // the image is gone: it answers what it answered before
    });
    expect(await look(bus, hostA, VA, 1)).toMatchObject({ kind: 'proved' });
    // the next look: the checker's rng gives another nonce (and subset)
    expect(await look(bus, hostA, VA, 2)).toMatchObject({ kind: 'wrong' });
  });

  it("a host answering for another host's volume, or with another volume's blocks, fails", async () => {
    const bus = new MemoryBus();
    const a = await honest(hostA, [VA]);
    host(bus, hostA, a);
    // B never made VB: it answers with A's canaries (a copy of A's image), or relays A's answer
    const aBlocks = await sealCanaries(hostA, VA, ITER);
    host(bus, hostB, async (_v, nonce, blocks) =>
      storageProof(
        hostB,
        VB,
        nonce,
        blocks,
        blocks.map((i) => aBlocks[i]!),
      ),
    );
    expect(await look(bus, hostB, VB)).toMatchObject({ kind: 'wrong' });
    stops.pop()!();
    host(bus, hostB, (_v, nonce, blocks) => a(VA, nonce, blocks));
    expect(await look(bus, hostB, VB)).toMatchObject({ kind: 'wrong' });
    // and A holds VA only: asked about VB it fails
    expect(await look(bus, hostA, VB)).toMatchObject({ kind: 'wrong' });
  });

  it('a host that recomputes the sealed blocks on demand misses the deadline', async () => {
    const bus = new MemoryBus();
    const heavy = 2 ** 19;
    // it kept nothing: it seals the asked blocks when asked (the honest answer, too late)
    host(bus, hostA, async (v, nonce, blocks) =>
      storageProof(
        hostA,
        v,
        nonce,
        blocks,
        await Promise.all(blocks.map((i) => sealCanary(hostA, v, i, heavy))),
      ),
    );
    const r = await look(bus, hostA, VA, 3, heavy, 100);
    expect(r).toMatchObject({ kind: 'silent' });
  }, 60_000);

  it('the check server refuses malformed challenges without calling the host', async () => {
    const bus = new MemoryBus();
    let calls = 0;
    host(bus, hostA, async () => {
      calls++;
      return 'x';
    });
    const ask = (m: Record<string, unknown>) =>
      bus.request(
        `check.${hostA}`,
        { op: 'storage', checker, volume: VA, nonce: 'ab'.repeat(8), ...m },
        { timeoutMs: 1_000 },
      );
    expect(await ask({ blocks: [0, 0] })).toMatchObject({ error: expect.stringMatching(/distinct/) });
    expect(await ask({ blocks: [CANARY_BLOCKS] })).toMatchObject({ error: expect.any(String) });
    await expect(ask({ blocks: [] })).resolves.toMatchObject({ message: { code: 'protocol' } });
    await expect(ask({ blocks: [1], nonce: 'not hex' })).resolves.toMatchObject({
      message: { code: 'protocol' },
    });
    expect(calls).toBe(0);
  });
});
