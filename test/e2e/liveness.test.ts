import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAethirError } from '../../src/core/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { startInProcessDevnet, tempHome, waitFor } from './helpers.js';

/** Three checkers confirm liveness from heartbeats; a silent container goes offline and is not matched. */
describe('checkers and liveness', () => {
  let node: RunningNode;

  beforeAll(async () => {
    const home = tempHome();
    node = await startInProcessDevnet(home, {
      demoContainers: 2,
      heartbeatIntervalMs: 200,
      offlineAfterMs: 1000,
      checkIntervalMs: 200,
    });
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('every container is online by the majority of three signed checker reports', async () => {
    const { devnet } = node;
    expect(devnet.checkers).toHaveLength(3);
    const ledger = devnet.chain.ledger;
    const reports = ((await (await fetch(`${node.url}/v1/checkers/reports?limit=200`)).json()) as any)
      .reports;
    for (const c of ledger.containers()) {
      expect(c.status).toBe('online');
      const voters = new Set(
        reports.filter((r: any) => r.container === c.id && r.ok).map((r: any) => r.checker),
      );
      expect(voters.size).toBeGreaterThanOrEqual(2);
      for (const v of voters) expect(ledger.chain.checkers).toContain(v);
    }
    // the checkers that agreed with the majority are counted correct (checker rewards)
    const correct = ledger.chain.checkers.map((a) => ledger.checker(a)!.correctTotal);
    expect(correct.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(2 * ledger.containers().length);
  });

  it('a container that stops heartbeating is marked offline and no longer matched', async () => {
    const { devnet } = node;
    const [, victim, other] = devnet.agents;
    const user = devnet.developer.address;
    // a match's container, or null when nothing matches (NO_MATCH); any other error fails the test
    // (browsing: the same search as a reserving match, without holding GPUs or needing escrow)
    const matchFor = (gpus: number) => {
      try {
        return devnet.indexer.find({ user, gpus, gpuModel: undefined }).container.id;
      } catch (e) {
        if (isAethirError(e) && e.code === 'NO_MATCH') return null;
        throw e;
      }
    };
    await victim!.stop();
    const status = await waitFor(
      async () => devnet.chain.ledger.container(victim!.id)!.status === 'offline' && 'offline',
      15_000,
      'the checkers to mark the silent container offline',
    );
    expect(status).toBe('offline');
    // no match ever lands on it again, whatever is asked
    const matched: string[] = [];
    for (let i = 0; i < 20; i++)
      for (const id of [matchFor(0), matchFor(1)]) {
        expect(id).not.toBe(victim!.id);
        if (id) matched.push(id);
      }
    // and matching still works: the containers still online are matched (a CPU request always is)
    expect(matched.length).toBeGreaterThanOrEqual(20);
    expect(devnet.chain.ledger.container(other!.id)!.status).toBe('online');
    const r = await fetch(`${node.url}/v1/checkers/reports?limit=50`);
    const reports = ((await r.json()) as any).reports.filter((x: any) => x.container === victim!.id && !x.ok);
    expect(new Set(reports.map((x: any) => x.checker)).size).toBeGreaterThanOrEqual(2);
  });
});
