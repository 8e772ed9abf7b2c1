/**
 * Faults of a scale-out network, each for real: kill -9 of an indexer, a checker and a serving
 * container; kill -9 and restart of the NATS server; an API node cut off from NATS by its proxy;
 * killed nodes restarted on their data directories. The steps run in order on one network.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ATH,
  HttpError,
  account,
  getJson,
  startStandardCluster,
  waitFor,
  waitServing,
  type LeaseView,
  type RentProcess,
  type StandardCluster,
  type User,
} from './harness.js';
import { signLeaseToken } from '../../../src/core/index.js';
import { signTx } from '../../../src/ledger/index.js';
import { ApiClient, UsageReceipts } from '../../../src/sdk/index.js';

let net: StandardCluster;
let failed = false;

beforeAll(async () => {
  net = await startStandardCluster('faults', [
    'dev',
    'bg',
    'm-a',
    'm-b',
    'pre',
    'pre-b',
    'post',
    'cut',
    'last',
  ]);
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') {
    failed = true;
    console.error(net?.c.logs());
  }
});

afterAll(async () => {
  s.stopReceipts?.();
  await net?.c.destroy({ keep: failed || Boolean(process.env.AETHIR_TEST_KEEP) });
  if (failed) console.error(`cluster directory kept: ${net?.c.dir}`);
}, 60_000);

const SIX_BY_SEVEN = ['node', '-e', 'console.log(6*7)'];

/** State carried from one step to the next. */
const s: {
  lease?: string;
  escrowBeforeOpen?: bigint;
  balanceBeforeOpen?: bigint;
  background?: RentProcess;
  stopReceipts?: () => void;
} = {};

/**
 * Submits one signed transaction through `api` until it is acknowledged (201): the same signed
 * bytes every time, so a retry after a lost acknowledgement is deduplicated by the log.
 */
async function sendAcked(api: string, u: User, nonce: number, to: string): Promise<string> {
  const tx = signTx(u.key, net.c.chainId, 'transfer', nonce, { to, amount: ATH });
  const res = await waitFor(
    async () => {
      const r = await fetch(`${api}/v1/transactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(tx),
        signal: AbortSignal.timeout(40_000),
      });
      const body = await r.json();
      if (r.status === 201) return body as { id: string };
      // A rejection that is not about reaching the log is a failure, not something to retry.
      if (!/UNAVAILABLE|TIMEOUT/.test(body?.error?.code ?? '')) throw new HttpError(r.status, body, api);
      return undefined;
    },
    { timeoutMs: 60_000, what: `transfer ${nonce} of ${u.name} to be acknowledged` },
  );
  return res.id;
}

describe('faults of a scale-out network', () => {
  it('a new rent works with one indexer killed while leases run', async () => {
    const { c, apiA, apiB, indexers, containers } = net;
    // A lease opened by hand on gpu-3 whose workload never ends: only the container's death ends it.
    const dev = c.user('dev');
    await c.send(apiA.api, dev.key, 'escrow.deposit', { amount: 10n * ATH });
    const before = await account(apiA.api, dev.key.address);
    s.escrowBeforeOpen = BigInt(before.escrow);
    s.balanceBeforeOpen = BigInt(before.balance);
    const opened = await c.send(apiA.api, dev.key, 'lease.open', {
      container: containers[2]!.address,
      gpus: 1,
      maxDurationSec: 3600,
      maxPricePerHour: 10n * ATH,
      workload: { command: ['node', '-e', "setInterval(()=>console.log('t'),200)"] },
    });
    s.lease = String(opened.result.lease);
    // The user's side of Proof of Delivery, as rent does it: a signed receipt for the service so
    // far, every half second while the output flows (until the container dies, below).
    const openedAt = (await getJson<LeaseView>(`${apiA.api}/v1/leases/${s.lease}`)).openedAt;
    const receipts = new UsageReceipts({
      send: (r) => new ApiClient(apiA.api).sendReceipt(r),
      key: dev.key,
      chainId: c.chainId,
      lease: s.lease,
      openedAt,
    });
    const timer = setInterval(() => void receipts.sign(), 500);
    s.stopReceipts = () => clearInterval(timer);
    // A rent of the command line running through all of the faults below (about 12 s).
    s.background = c.rent(c.user('bg'), apiB.api, [
      'node',
      '-e',
      "let n=0;const t=setInterval(()=>{console.log('t'+(++n));if(n===48)clearInterval(t)},250)",
    ]);
    await waitFor(
      async () => {
        const token = signLeaseToken(dev.key, {
          chainId: c.chainId,
          lease: s.lease!,
          exp: Date.now() + 60_000,
        });
        const res = await fetch(`${apiA.api}/v1/leases/${s.lease}/logs?follow=false`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return (await res.text()).includes('"t\\n"');
      },
      { what: 'the workload of the lease on gpu-3 to run' },
    );

    await indexers[0]!.kill();
    // Through both API nodes: their match requests go to whichever indexer is left.
    const [ra, rb] = await Promise.all([
      c.rent(c.user('m-a'), apiA.api, SIX_BY_SEVEN).result,
      c.rent(c.user('m-b'), apiB.api, SIX_BY_SEVEN).result,
    ]);
    for (const r of [ra, rb]) {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('42\n');
    }
  });

  it('two of three checkers close the lease of a killed container; the undelivered time is refunded', async () => {
    const { apiA, apiB, checkers, containers } = net;
    await checkers[0]!.kill();
    // The host has collected for some served time before it dies.
    await waitFor(
      async () => BigInt((await getJson<LeaseView>(`${apiA.api}/v1/leases/${s.lease}`)).charged) > 0n,
      { what: 'a settlement of the running lease' },
    );
    const gpu3 = containers[2]!;
    const gpu3Address = gpu3.address;
    await gpu3.kill();
    // The client sees the output stop and stops acknowledging service.
    s.stopReceipts?.();

    const closed = await waitFor(
      async () => {
        const l = await getJson<LeaseView>(`${apiA.api}/v1/leases/${s.lease}`);
        return l.status === 'closed' ? l : undefined;
      },
      { timeoutMs: 30_000, what: 'the checkers to close the lease of the killed container' },
    );
    expect(closed.closedBy).toBe(gpu3Address);
    expect(closed.closeReason).toMatch(/went offline/);
    const charged = BigInt(closed.charged);
    const escrow = BigInt(closed.escrow);
    expect(charged).toBeGreaterThan(0n);
    expect(charged).toBeLessThan(escrow);
    // The user's escrow got back exactly what was not charged: refund + charge = deposit.
    for (const api of [apiA.api, apiB.api]) {
      const after = await account(api, closed.user);
      expect(BigInt(after.escrow) + charged).toBe(s.escrowBeforeOpen);
      expect(BigInt(after.balance)).toBe(s.balanceBeforeOpen);
    }
    const c3 = await getJson<{ status: string; gpusLeased: number }>(
      `${apiB.api}/v1/containers/${gpu3Address}`,
    );
    expect(c3).toMatchObject({ status: 'offline', gpusLeased: 0 });

    // The rent that ran through all of this finished (on another container if it was on gpu-3).
    const bg = await s.background!.result;
    expect(bg.code, bg.stdout + bg.stderr).toBe(0);
    expect(bg.stdout).toContain('t48\n');
  });

  it('survives a kill -9 and restart of the NATS server mid-stream: every acknowledged transaction is on the ledger', async () => {
    const { c, apiA, apiB, containers } = net;
    const to = c.user('post').key.address;
    const senders = [c.user('pre'), c.user('pre-b')];
    // Two streams of transfers (one per sender, in nonce order, alternating API nodes) run across
    // the kill: a transfer is acknowledged when an API node answers 201 (sendAcked retries the same
    // signed bytes through the outage; the log deduplicates them).
    const acked: Array<{ id: string; from: string; nonce: number; afterRestart: boolean }> = [];
    const inFlight = new Set<string>();
    let restarted = false;
    let stop = false;
    const stream = async (u: User, k: number) => {
      for (let nonce = 0; !stop; nonce++) {
        const key = `${u.name}/${nonce}`;
        inFlight.add(key);
        const id = await sendAcked((nonce + k) % 2 ? apiB.api : apiA.api, u, nonce, to);
        inFlight.delete(key);
        acked.push({ id, from: u.key.address, nonce, afterRestart: restarted });
      }
    };
    const streams = senders.map(stream);
    const mine = (u: User) => acked.filter((a) => a.from === u.key.address);
    await waitFor(() => senders.every((u) => mine(u).length >= 3), {
      timeoutMs: 60_000,
      what: 'three acknowledged transfers of each stream before the kill',
    });
    const heightBefore = await c.logHeight();
    // the kill lands with the streams running: their next transfers are in flight
    const inFlightAtKill = [...inFlight];
    await c.restartNats();
    restarted = true;
    expect(await waitFor(() => c.logHeight(), { what: 'the log after the restart' })).toBeGreaterThanOrEqual(
      heightBefore,
    );
    // the streams go on once the nodes have reconnected
    await waitFor(() => senders.every((u) => mine(u).filter((a) => a.afterRestart).length >= 3), {
      timeoutMs: 120_000,
      what: 'three transfers of each stream acknowledged after the restart',
    });
    stop = true;
    await Promise.all(streams);
    expect(inFlightAtKill.length).toBeGreaterThan(0);
    // what was in flight at the kill was acknowledged in the end
    for (const key of inFlightAtKill) {
      const [name, nonce] = key.split('/');
      const u = c.user(name!);
      expect(
        mine(u).some((a) => a.nonce === Number(nonce)),
        key,
      ).toBe(true);
    }
    // each stream's nonces were acknowledged once each, in order
    for (const u of senders) expect(mine(u).map((a) => a.nonce)).toEqual(mine(u).map((_, i) => i));

    const running = net.all.filter((n) => n.running);
    await c.converged(running);
    for (const n of running) {
      // every acknowledged transfer is on every replica's ledger, and nothing else from these senders
      for (const u of senders)
        expect((await account(n.api, u.key.address)).nonce, n.name).toBe(mine(u).length);
      for (const a of acked) {
        const t = await getJson<{ id: string; height: number; tx: { from: string; nonce: number } }>(
          `${n.api}/v1/transactions/${a.id}`,
        );
        expect(t.tx, `${n.name} ${a.id}`).toMatchObject({ from: a.from, nonce: a.nonce });
      }
      expect((await getJson<LeaseView>(`${n.api}/v1/leases/${s.lease}`)).status).toBe('closed');
    }

    // And a rent works afterwards (once the checkers have seen the containers again).
    await waitServing(apiA.api, [containers[0]!.address, containers[1]!.address]);
    const r = await c.rent(c.user('post'), apiA.api, SIX_BY_SEVEN).result;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('42\n');
  });

  it('an API node cut off from NATS catches up once it is reconnected', async () => {
    const { c, apiA, apiB } = net;
    const u = c.user('cut');
    const to = c.user('post').key.address;
    apiB.proxy.cut();
    expect(apiB.proxy.connections).toBe(0);
    let last = '';
    for (let i = 0; i < 6; i++) last = await sendAcked(apiA.api, u, i, to);
    const { height } = await getJson<{ height: number }>(`${apiA.api}/v1/transactions/${last}`);
    // Cut off, B still answers from its own replica, behind the log.
    expect((await apiB.status()).height).toBeLessThan(height);
    expect((await account(apiB.api, u.key.address)).nonce).toBe(0);
    // Stay partitioned a few seconds (B keeps trying to reconnect and is refused).
    await new Promise((r) => setTimeout(r, 3000));
    expect(apiB.proxy.connections).toBe(0);

    apiB.proxy.restore();
    await c.converged([apiA, apiB]);
    expect((await account(apiB.api, u.key.address)).nonce).toBe(6);
    await c.converged(net.all.filter((n) => n.running));
  });

  it('killed nodes restart from their own stores and converge', async () => {
    const { c, apiB, indexers, checkers, containers } = net;
    const killed = [indexers[0]!, checkers[0]!, containers[2]!];
    for (const n of killed) {
      expect(n.running).toBe(false);
      const stored = n.storedHead();
      expect(stored?.height, n.name).toBeGreaterThan(0);
      const ready = await n.start();
      // It starts from its store, not from the genesis.
      expect(ready.height, n.name).toBeGreaterThanOrEqual(stored!.height);
    }
    const head = await c.converged(net.all);
    expect(net.all.every((n) => n.running)).toBe(true);
    expect(head.height).toBeGreaterThan(0);

    // The restarted container tops up its slashed stake and serves again.
    await waitServing(apiB.api, [containers[2]!.address]);
    const r = await c.rent(c.user('last'), apiB.api, SIX_BY_SEVEN, { gpus: 1 }).result;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('42\n');
  });
});
