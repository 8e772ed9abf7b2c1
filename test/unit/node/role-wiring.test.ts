import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ManualClock,
  ath,
  defaultConfig,
  generateKeyPair,
  signAsContainer,
  signRequest,
} from '../../../src/core/index.js';
import { MemoryBus, rpcSubjects, subjects, type HeartbeatMsg } from '../../../src/bus/index.js';
import type { MatchResult } from '../../../src/indexer/index.js';
import { Chain } from '../../../src/node/chain.js';
import { InProcessNetwork } from '../../../src/node/in-process-network.js';
import { startIndexerRole, type RoleContext } from '../../../src/node/role-wiring.js';
import { SqliteChainStore } from '../../../src/store/index.js';
import {
  GENESIS_TIME,
  H100,
  alice,
  checkers,
  host,
  makeGenesis,
  registerPayload,
  signNext,
} from '../ledger/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aethir-role-wiring-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('startIndexerRole', () => {
  it('a node restarted over its store answers a match from the first heartbeat: the index is loaded from the ledger', async () => {
    const file = path.join(tmp, 'chain.db');
    const clock = new ManualClock(GENESIS_TIME + 1_000);
    // Before the restart: a host registers, stakes and is voted online.
    const first = Chain.open(new SqliteChainStore(file), clock, () => makeGenesis());
    const send = (k: typeof host, type: Parameters<typeof signNext>[2], payload: Record<string, unknown>) =>
      first.submit(signNext(first.ledger, k, type, payload));
    send(host, 'container.register', registerPayload(2, ath(1)));
    send(host, 'container.stake', { amount: first.ledger.requiredStakeFor([H100, H100]) });
    for (const k of [checkers[0], checkers[1]])
      send(k, 'checker.report', {
        container: host.address,
        check: 'liveness',
        ok: true,
        observedAt: clock.now(),
      });
    expect(first.ledger.container(host.address)!.status).toBe('online');
    // the user's escrow covers what a reservation holds (an unfunded match reserves nothing)
    send(alice, 'escrow.deposit', { amount: ath(1_000) });
    first.close();

    // The restarted node: no block will mention the host again; only its heartbeats come.
    const chain = Chain.open(new SqliteChainStore(file), clock, () => makeGenesis());
    const bus = new MemoryBus();
    const ctx: RoleContext = {
      config: defaultConfig({}),
      ledger: () => chain.ledger,
      network: new InProcessNetwork(chain),
      bus,
      clock,
      log: () => {},
    };
    const role = startIndexerRole(ctx, { seed: 'restart', serveMatches: true });
    try {
      const request = { user: alice.address, gpus: 2 };
      // known, but not heard from since the restart
      expect(() => role.indexer.match(request)).toThrow(/no container/i);
      const hb: HeartbeatMsg = { container: host.address, at: clock.now(), freeGpus: 2, runningLeases: 0 };
      // an unsigned heartbeat, or one signed by another key, is not the host's: nothing is matched
      bus.publish(subjects.heartbeat(host.address), hb);
      bus.publish(
        subjects.heartbeat(host.address),
        signAsContainer(alice, 'heartbeat', chain.ledger.chain.chainId, hb),
      );
      expect(() => role.indexer.match(request)).toThrow(/no container/i);
      bus.publish(
        subjects.heartbeat(host.address),
        signAsContainer(host, 'heartbeat', chain.ledger.chain.chainId, hb),
      );
      expect(role.indexer.match(request).container.id).toBe(host.address);
      // and for other nodes, over the bus
      // and for other nodes, over the bus: a preview for anyone
      const preview = (await bus.request(rpcSubjects.match, {
        user: alice.address,
        gpus: 0,
        reserve: false,
      })) as MatchResult;
      expect(preview.container.id).toBe(host.address);
      expect(preview.reservation).toBeNull();
      // reserving takes the account's own signed request: a peer on the bus cannot hold GPUs
      // (and the account's reservation cap and escrow) in alice's name
      const held = role.indexer.stats().reservations;
      const chainId = chain.ledger.chain.chainId;
      const body = { user: alice.address, gpus: 0 };
      await expect(bus.request(rpcSubjects.match, { ...body, reserve: true })).rejects.toThrow(
        /carries the account's signed request/,
      );
      await expect(bus.request(rpcSubjects.match, { ...body })).rejects.toThrow(/signed request/);
      const mallory = generateKeyPair();
      const forged = signRequest(mallory, chainId, 'POST', '/v1/match', body, clock.now());
      await expect(
        bus.request(rpcSubjects.match, { reserve: true, signature: forged, body }),
      ).rejects.toThrow(/signed by .* not by/);
      const signature = signRequest(alice, chainId, 'POST', '/v1/match', body, clock.now());
      await expect(
        bus.request(rpcSubjects.match, { reserve: true, signature, body: { ...body, gpus: 1 } }),
      ).rejects.toThrow(/does not verify/);
      await expect(
        bus.request(rpcSubjects.match, { reserve: true, signature, body: { gpus: 'x' } }),
      ).rejects.toThrow(/invalid match request: /);
      expect(role.indexer.stats().reservations).toBe(held);
      // alice's own: reserved; the gateway's retry of it (a late reply) gets the same reservation
      const first = (await bus.request(rpcSubjects.match, { reserve: true, signature, body })) as MatchResult;
      expect(first.reservation.user).toBe(alice.address);
      const retry = (await bus.request(rpcSubjects.match, { reserve: true, signature, body })) as MatchResult;
      expect(retry.reservation.id).toBe(first.reservation.id);
      expect(role.indexer.stats().reservations).toBe(held + 1);
    } finally {
      role.stop();
      chain.close();
    }
    // stopped: heartbeats and match requests are no longer taken
    await expect(
      bus.request(rpcSubjects.match, { user: alice.address, gpus: 0 }, { timeoutMs: 200 }),
    ).rejects.toThrow();
  });
  it("a reserving request over the bus waits for the API node's height: the deposit it acknowledged is seen, not a lagging escrow of 0", async () => {
    const clock = new ManualClock(GENESIS_TIME + 1_000);
    const chain = Chain.open(new SqliteChainStore(path.join(tmp, 'catch-up.db')), clock, () => makeGenesis());
    const send = (k: typeof host, type: Parameters<typeof signNext>[2], payload: Record<string, unknown>) =>
      chain.submit(signNext(chain.ledger, k, type, payload));
    send(host, 'container.register', registerPayload(2, ath(1)));
    send(host, 'container.stake', { amount: chain.ledger.requiredStakeFor([H100, H100]) });
    for (const k of [checkers[0], checkers[1]])
      send(k, 'checker.report', {
        container: host.address,
        check: 'liveness',
        ok: true,
        observedAt: clock.now(),
      });
    const bus = new MemoryBus();
    // This node's ledger is behind until the test lets it catch up (the block with the deposit).
    const asked: number[] = [];
    let catchUp!: () => void;
    const caughtUp = new Promise<void>((r) => (catchUp = r));
    const role = startIndexerRole(
      {
        config: defaultConfig({}),
        ledger: () => chain.ledger,
        network: new InProcessNetwork(chain),
        bus,
        clock,
        log: () => {},
      },
      {
        seed: 'catch-up',
        serveMatches: true,
        caughtUpTo: (h) => {
          asked.push(h);
          return h > 1_000_000 ? Promise.reject(new Error('not within the wait')) : caughtUp;
        },
      },
    );
    try {
      bus.publish(
        subjects.heartbeat(host.address),
        signAsContainer(host, 'heartbeat', chain.ledger.chain.chainId, {
          container: host.address,
          at: clock.now(),
          freeGpus: 2,
          runningLeases: 0,
        }),
      );
      const chainId = chain.ledger.chain.chainId;
      const body = { user: alice.address, gpus: 1 };
      const signature = signRequest(alice, chainId, 'POST', '/v1/match', body, clock.now());
      // Without a height (or with one that is not a block height), the escrow is checked as it is.
      for (const atHeight of [undefined, 'x', -1, 1.5])
        await expect(
          bus.request(rpcSubjects.match, { reserve: true, signature, body, atHeight }),
        ).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
      // A height this ledger does not reach within the wait: answered as it is, not hung.
      await expect(
        bus.request(rpcSubjects.match, { reserve: true, signature, body, atHeight: 2_000_000 }),
      ).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
      // The API node applied the deposit at the next height; this request waits for it.
      const atHeight = chain.head.height + 1;
      let answered = false;
      const reply = bus
        .request(rpcSubjects.match, { reserve: true, signature, body, atHeight })
        .finally(() => {
          answered = true;
        });
      await new Promise((r) => setTimeout(r, 20));
      expect(answered).toBe(false);
      send(alice, 'escrow.deposit', { amount: ath(1_000) });
      expect(chain.head.height).toBe(atHeight);
      catchUp();
      const m = (await reply) as MatchResult;
      expect(m.container.id).toBe(host.address);
      expect(m.reservation.user).toBe(alice.address);
      expect(asked).toEqual([2_000_000, atHeight]);
    } finally {
      role.stop();
      chain.close();
    }
  });
});
