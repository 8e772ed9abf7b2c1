import type { FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../../src/api/server.js';
import { EVENTS_AUTH_HEADER, signEventsAuth, signTelemetry, type Bus } from '../../../src/bus/index.js';
import { subjects } from '../../../src/bus/subjects.js';
import {
  AethirError,
  ath,
  decodeCanonical,
  generateKeyPair,
  loadConfig,
  systemClock,
  type KeyPair,
} from '../../../src/core/index.js';
import { Devnet } from '../../../src/node/devnet.js';
import { devnetBackend } from '../../../src/node/devnet-backend.js';
import { HttpBus } from '../../../src/sdk/http-bus.js';
import { TxSender } from '../../../src/sdk/index.js';
import { locationOf } from '../../../src/node/index.js';

const NONCE = '00112233445566778899aabbccddeeff';
const probe = (checker = 'x') => ({ op: 'probe', checker, nonce: NONCE });

async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<AethirError> {
  try {
    await p;
  } catch (e) {
    return e as AethirError;
  }
  throw new Error('resolved, expected a rejection');
}

/**
 * Checkers reach containers that joined over HTTP through the API node: the node serves
 * `check.<container>` on its bus while the container's event stream is open, relays each request
 * as a `check` event, and takes the answer from the container's signed telemetry (`reply.<id>`).
 */
describe('HttpBus.serve: checks relayed by the API node', () => {
  const home = mkdtempSync(join(tmpdir(), 'aethir-httpbus-'));
  let devnet: Devnet;
  let api: FastifyInstance;
  let url = '';
  const buses: HttpBus[] = [];

  beforeAll(async () => {
    const config = loadConfig({
      env: { AETHIR_HOME: home },
      flags: { port: 0, dataDir: join(home, 'devnet'), demoContainers: 0 },
    });
    devnet = await Devnet.start({ config });
    api = await createApiServer(devnetBackend(devnet), { bus: devnet.bus, checkTimeoutMs: 1_500 });
    await api.listen({ port: 0, host: '127.0.0.1' });
    const addr = api.server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    for (const b of buses) await b.close(200);
    await api?.close();
    await devnet?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const bus = () => devnet.bus;
  /** A container registered on the ledger (telemetry and event streams are for those only). */
  const registered = async (): Promise<KeyPair> => {
    const key = generateKeyPair();
    await new TxSender(key, devnet.network).send('container.register', {
      name: `relay-${key.address.slice(4, 12)}`,
      spec: {
        source: 'probed',
        gpus: [],
        cpu: { model: 'test CPU', cores: 4 },
        memoryMiB: 8192,
        os: 'linux test',
      },
      location: locationOf('Frankfurt'),
      pricePerHour: ath(1),
    });
    return key;
  };
  const httpBus = (key: KeyPair) => {
    const b = new HttpBus({ base: url, key, chainId: devnet.chain.chainId, clock: systemClock });
    buses.push(b);
    return b;
  };
  /** Resolves once the node serves `check.<container>` (requests stop failing "no responder"). */
  const served = (container: string) =>
    waitFor(async () => {
      const e = await rejection(
        bus().request(subjects.check(container), probe('ready?'), { timeoutMs: 50 }),
      ).catch(() => undefined);
      return e && /no responder/.test(e.message) ? undefined : true;
    });

  let lastAt = 0;
  const post = async (key: KeyPair, messages: Array<{ subject: string; data: unknown }>, at?: number) => {
    lastAt = at ?? Math.max(lastAt + 1, Date.now());
    const r = await fetch(`${url}/v1/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signTelemetry(key, devnet.chain.chainId, lastAt, messages)),
    });
    return { status: r.status, body: (await r.json()) as any, at: lastAt };
  };

  /** A bare SSE client of one container's event stream, that never answers by itself. */
  let lastEventsAt = 0;
  function rawStream(key: KeyPair) {
    const abort = new AbortController();
    const checks: Array<{ id: string; subject: string; data: any }> = [];
    lastEventsAt = Math.max(lastEventsAt + 1, Date.now());
    const auth = signEventsAuth(key, devnet.chain.chainId, lastEventsAt);
    void (async () => {
      const res = await fetch(`${url}/v1/containers/${key.address}/events`, {
        signal: abort.signal,
        headers: { [EVENTS_AUTH_HEADER]: auth },
      });
      let buf = '';
      const dec = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const lines = buf.slice(0, end).split('\n');
          buf = buf.slice(end + 2);
          if (lines.includes('event: check'))
            checks.push(decodeCanonical(lines.find((l) => l.startsWith('data: '))!.slice(6)));
        }
      }
    })().catch(() => undefined);
    /** the checks this test's checker ('x') sent, not the probes of `served` */
    const mine = () => checks.filter((c) => c.data.checker === 'x');
    return { checks, mine, close: () => abort.abort() };
  }

  it("a checker's request on the node's bus reaches the container's handler and gets its answer", async () => {
    const key = await registered();
    const b = httpBus(key);
    const seen: unknown[] = [];
    b.serve(subjects.check(key.address), (data) => {
      if ((data as { checker: string }).checker === 'x') seen.push(data);
      const m = data as { op: string; nonce: string };
      if (m.op === 'probe' && m.nonce === 'ff'.repeat(8))
        throw new AethirError('INVALID_ARGUMENT', 'not that nonce');
      return { ok: true, nonce: m.nonce, from: key.address };
    });
    await served(key.address);
    // answered (how fast: bench/checks.bench.ts)
    const r = await bus().request(subjects.check(key.address), probe());
    expect(r).toEqual({ ok: true, nonce: NONCE, from: key.address });
    expect(seen).toContainEqual(probe());
    // The handler's AethirError reaches the checker as it was thrown.
    const e = await rejection(
      bus().request(subjects.check(key.address), { op: 'probe', checker: 'x', nonce: 'ff'.repeat(8) }),
    );
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'not that nonce']);
    // A capacity step too (the other kind of check request).
    const step = { op: 'capacity', checker: 'x', session: 's1', message: { type: 'start' } };
    expect(await bus().request(subjects.check(key.address), step)).toMatchObject({ ok: true });
    expect(seen).toContainEqual(step);
    // Malformed requests never reach the container.
    const bad = await rejection(bus().request(subjects.check(key.address), { op: 'probe', nonce: 'zz' }));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(seen).toHaveLength(3);
    // Heartbeats still go the usual way.
    const hbs: unknown[] = [];
    const off = bus().subscribe(subjects.heartbeat(key.address), (m) => hbs.push(m));
    b.publish(subjects.heartbeat(key.address), {
      container: key.address,
      at: Date.now(),
      freeGpus: 0,
      runningLeases: 0,
    });
    await waitFor(() => (hbs.length ? true : undefined));
    off();
    // the node delivers the batch before it answers the POST: the queue empties on the answer
    await waitFor(() => (b.stats().queued === 0 ? true : undefined));
    expect(b.stats()).toMatchObject({ droppedMalformed: 0, queued: 0 });
  });

  it('serves only its own check subject, and request stays unavailable', async () => {
    const key = await registered();
    const b: Bus = httpBus(key);
    const other = generateKeyPair().address;
    for (const s of [subjects.check(other), 'check.*', 'match.request'])
      expect(() => b.serve(s, () => ({}))).toThrow(
        expect.objectContaining({ code: 'UNAVAILABLE', message: expect.stringContaining(s) }),
      );
    expect((await rejection(b.request('match.request', {}))).code).toBe('UNAVAILABLE');
  });

  it('after the container disconnects, requests fail UNAVAILABLE at once, and waiting ones too', async () => {
    const key = await registered();
    const b = httpBus(key);
    b.serve(subjects.check(key.address), () => ({ ok: true }));
    await served(key.address);
    await b.close(200);
    // No responder fails UNAVAILABLE at once, not TIMEOUT when a minute is up (the test's own
    // timeout would end it first).
    const e = await waitFor(async () => {
      const err = await rejection(bus().request(subjects.check(key.address), probe(), { timeoutMs: 60_000 }));
      return /no responder/.test(err.message) ? err : undefined;
    });
    expect(e.code).toBe('UNAVAILABLE');

    // A request waiting for an answer when the stream goes fails UNAVAILABLE, not TIMEOUT.
    const k2 = await registered();
    const s = rawStream(k2);
    await served(k2.address);
    const p = rejection(bus().request(subjects.check(k2.address), probe(), { timeoutMs: 60_000 }));
    await waitFor(() => (s.mine().length ? true : undefined));
    s.close();
    const err = await p;
    expect([err.code, err.message]).toEqual([
      'UNAVAILABLE',
      `container ${k2.address} disconnected from this node`,
    ]);
  });

  it('an unanswered check fails TIMEOUT', async () => {
    const key = await registered();
    const s = rawStream(key);
    await served(key.address);
    const err = await rejection(bus().request(subjects.check(key.address), probe(), { timeoutMs: 10_000 }));
    expect(err.code).toBe('TIMEOUT');
    expect(s.mine()).toHaveLength(1);
    s.close();
  });

  it('refuses answers that are not pending for the container that sends them, changing nothing', async () => {
    const key = await registered();
    const stranger = await registered();
    const s = rawStream(key);
    await served(key.address);
    const answer = bus().request(subjects.check(key.address), probe(), { timeoutMs: 10_000 });
    const { id, subject, data } = await waitFor(() => s.mine()[0]);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(subject).toBe(subjects.check(key.address));
    expect(data).toEqual(probe());

    const hbs: unknown[] = [];
    const off = bus().subscribe(subjects.heartbeat(key.address), (m) => hbs.push(m));
    const hb = {
      subject: subjects.heartbeat(key.address),
      data: { container: key.address, at: Date.now(), freeGpus: 0, runningLeases: 0 },
    };
    const ok = { result: { ok: true } };

    // Another container's key, answering this container's request: refused.
    const foreign = await post(stranger, [{ subject: `reply.${id}`, data: ok }]);
    expect([foreign.status, foreign.body.error.code]).toEqual([403, 'UNAUTHORIZED']);
    // An id this node never sent, and odd reply subjects: refused, and with them the whole batch.
    for (const bad of ['reply.' + 'ab'.repeat(16), 'reply.', `reply.${id}.x`, 'reply']) {
      const r = await post(key, [hb, { subject: bad, data: ok }]);
      expect([bad, r.status, r.body.error.code]).toEqual([bad, 403, 'UNAUTHORIZED']);
    }
    // Malformed answers: 400, like other malformed telemetry.
    for (const bad of [{}, { result: 5 }, { result: {}, error: { code: 'X', message: '' } }, { error: {} }]) {
      const r = await post(key, [hb, { subject: `reply.${id}`, data: bad }]);
      expect([r.status, r.body.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    }
    // Nothing changed: the heartbeats went nowhere, the request still waits, and `at` was not used up.
    await new Promise((r) => setTimeout(r, 50));
    expect(hbs).toHaveLength(0);
    const reuse = lastAt;
    const twice = await post(
      key,
      [
        { subject: `reply.${id}`, data: ok },
        { subject: `reply.${id}`, data: ok },
      ],
      reuse,
    );
    expect([twice.status, twice.body.error.code]).toEqual([403, 'UNAUTHORIZED']);

    // The container's own answer, in a batch with its heartbeat, at the same `at`: taken.
    const good = await post(
      key,
      [hb, { subject: `reply.${id}`, data: { result: { ok: true, n: 1 } } }],
      reuse,
    );
    expect([good.status, good.body]).toEqual([202, { accepted: 2 }]);
    expect(await answer).toEqual({ ok: true, n: 1 });
    await waitFor(() => (hbs.length ? true : undefined));
    off();
    // Once answered, the id is no longer pending.
    const again = await post(key, [{ subject: `reply.${id}`, data: ok }]);
    expect([again.status, again.body.error.code]).toEqual([403, 'UNAUTHORIZED']);

    // An error answer reaches the checker as an error.
    const failing = rejection(bus().request(subjects.check(key.address), probe(), { timeoutMs: 10_000 }));
    const second = await waitFor(() => s.mine()[1]);
    const r = await post(key, [
      { subject: `reply.${second.id}`, data: { error: { code: 'NOT_FOUND', message: 'no prover' } } },
    ]);
    expect(r.status).toBe(202);
    const e = await failing;
    expect([e.code, e.message]).toEqual(['NOT_FOUND', 'no prover']);
    s.close();
  });

  it('with two streams open, each request goes to both and the first answer wins; one closing keeps it served', async () => {
    const key = await registered();
    const raw = rawStream(key);
    const b = httpBus(key);
    let calls = 0;
    b.serve(subjects.check(key.address), () => ({ ok: true, calls: ++calls }));
    // Until the HttpBus's stream is open too (before, the bare stream takes the probes and never answers).
    await waitFor(async () => {
      await bus()
        .request(subjects.check(key.address), probe('ready?'), { timeoutMs: 100 })
        .catch(() => undefined);
      return calls > 0 ? true : undefined;
    });
    const before = raw.checks.length;
    expect(await bus().request(subjects.check(key.address), probe())).toMatchObject({ ok: true });
    expect(raw.checks.length).toBe(before + 1);
    raw.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(await bus().request(subjects.check(key.address), probe())).toMatchObject({ ok: true });
    await b.close(200);
  });

  /** A refused request for a container's event stream with this header (none: anonymous). */
  async function openEvents(container: string, header?: string) {
    const abort = new AbortController();
    const res = await fetch(`${url}/v1/containers/${container}/events`, {
      signal: abort.signal,
      headers: header ? { [EVENTS_AUTH_HEADER]: header } : {},
    });
    const body =
      res.status === 200 ? null : ((await res.json()) as { error: { code: string; message: string } });
    abort.abort();
    return { status: res.status, error: body?.error };
  }
  /** No stream of this container is open: the node still has no responder for its checks. */
  const notServed = async (container: string) =>
    expect(
      (await rejection(bus().request(subjects.check(container), probe(), { timeoutMs: 200 }))).message,
    ).toMatch(/no responder/);

  it("opening a container's event stream anonymously is refused (403) and relays it no check", async () => {
    const key = await registered();
    const r = await openEvents(key.address);
    expect(r.status).toBe(403);
    expect(r.error?.code).toBe('UNAUTHORIZED');
    expect(r.error?.message).toMatch(/opens only to its key/);
    await notServed(key.address);
  });

  it("opening a container's event stream with another container's key is refused", async () => {
    const victim = await registered();
    const attacker = await registered();
    const r = await openEvents(victim.address, signEventsAuth(attacker, devnet.chain.chainId, Date.now()));
    expect(r.status).toBe(403);
    expect(r.error?.message).toBe(`the key is not container ${victim.address}'s`);
    await notServed(victim.address);
  });

  it('replaying a captured event-stream header is refused, even while it is fresh', async () => {
    const key = await registered();
    const header = signEventsAuth(key, devnet.chain.chainId, Date.now());
    // The container's own request: its stream opens (the node serves its checks).
    const abort = new AbortController();
    void fetch(`${url}/v1/containers/${key.address}/events`, {
      signal: abort.signal,
      headers: { [EVENTS_AUTH_HEADER]: header },
    }).catch(() => undefined);
    await served(key.address);
    abort.abort();
    const r = await openEvents(key.address, header);
    expect(r.status).toBe(403);
    expect(r.error?.message).toMatch(/already used \(replayed\)/);
  });

  it('an event-stream header signed for another chain, or too old, is refused', async () => {
    const key = await registered();
    const other = await openEvents(key.address, signEventsAuth(key, 'another-chain', Date.now()));
    expect([other.status, other.error?.message]).toEqual([
      403,
      'the event stream request signature does not verify (chain, route)',
    ]);
    const old = await openEvents(
      key.address,
      signEventsAuth(key, devnet.chain.chainId, Date.now() - 120_000),
    );
    expect([old.status, old.error?.message]).toEqual([
      403,
      "the event stream request's time is too far from this node's clock",
    ]);
    await notServed(key.address);
  });
});
