import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { MemoryBus } from '../../../src/bus/bus.js';
import { ManualClock, SeededRng } from '../../../src/core/index.js';
import {
  cpuProverCommand,
  issueChallenge,
  spawnProver,
  type ProverChannel,
  type Received,
  type Timers,
} from '../../../src/capacity/index.js';
import { chooseProver, ledgerCheckerGate, serveChecks } from '../../../src/container/check-server.js';
import { keyPairFromSeed } from '../../../src/core/keys.js';
import { signCapacityStart, signCapacityStep, storageChallengeId } from '../../../src/core/check-auth.js';
import {
  inProcessProverChannel,
  SimulatedGpuMemory,
  simulatedGpuProver,
} from '../../../src/container/simulated-gpu.js';

const stops: Array<() => void> = [];
afterEach(() => {
  while (stops.length) stops.pop()!();
});

function serve(bus: MemoryBus, container: string, opts: Parameters<typeof serveChecks>[2] = {}) {
  const stop = serveChecks(bus, container, opts);
  stops.push(stop);
  return stop;
}

/** Timers the test fires by hand. */
function manualTimers() {
  const pending = new Set<{ ms: number; fn: () => void }>();
  const timers: Timers = {
    after(ms, fn) {
      const t = { ms, fn };
      pending.add(t);
      return () => pending.delete(t);
    },
  };
  const fire = (atLeastMs = 0) => {
    for (const t of [...pending])
      if (t.ms >= atLeastMs) {
        pending.delete(t);
        t.fn();
      }
  };
  return { timers, fire, pending };
}

/** In-process CPU provers whose sessions the test can count. */
function countedProvers() {
  const made: Array<{ closed: boolean }> = [];
  const factory = (): ProverChannel => {
    const inner = inProcessProverChannel();
    const rec = { closed: false };
    made.push(rec);
    return {
      send: (m) => inner.send(m),
      receive: (t) => inner.receive(t),
      close: async () => {
        rec.closed = true;
        await inner.close();
      },
    };
  };
  return { made, factory };
}

const capacity = (session: string, message: Record<string, unknown>, checker = 'checker-1') => ({
  op: 'capacity',
  checker,
  session,
  message,
});
const challenge = (seed: number, n = 128, extra: object = {}) => ({
  type: 'challenge',
  version: 1,
  ...issueChallenge(new SeededRng(seed), new ManualClock(), { n, deadlineMs: 60_000, ...extra }),
});
const protocolError = (re: RegExp) => ({
  message: { type: 'error', code: 'protocol', message: expect.stringMatching(re) },
});
describe('serveChecks: probes', () => {
  it('answers a probe with its nonce, its id and the time, at once', async () => {
    const bus = new MemoryBus({ validate: true });
    const clock = new ManualClock(1_700_000_123_000);
    serve(bus, 'c1', { clock });
    const nonce = '0123456789abcdef0123';
    expect(await bus.request('check.c1', { op: 'probe', checker: 'checker-1', nonce })).toEqual({
      container: 'c1',
      nonce,
      at: 1_700_000_123_000,
    });
    // a host that says how many leases it runs answers with the count of the moment
    let running = 2;
    serve(bus, 'c2', { clock, runningLeases: () => running });
    running = 3;
    expect(await bus.request('check.c2', { op: 'probe', checker: 'checker-1', nonce })).toEqual({
      container: 'c2',
      nonce,
      at: 1_700_000_123_000,
      runningLeases: 3,
    });
  });

  it('answers probes while a spawned prover is busy proving (the event loop stays free)', async () => {
    const bus = new MemoryBus({ validate: true });
    serve(bus, 'c1');
    const start = await bus.request('check.c1', capacity('busy', { type: 'start' }), { timeoutMs: 30_000 });
    expect(start).toMatchObject({ message: { type: 'ready', prover: 'cpu' } });
    const proving = bus.request('check.c1', capacity('busy', challenge(1, 1024)), { timeoutMs: 60_000 });
    let proved = false;
    void proving.then(() => (proved = true));
    // the probe is answered while the proof (n = 1024: a billion multiply-adds in the prover's
    // process) is still running; how fast is measured in bench/checks.bench.ts
    const probe = await bus.request('check.c1', { op: 'probe', checker: 'k', nonce: 'ab'.repeat(8) });
    expect(probe).toMatchObject({ container: 'c1', nonce: 'ab'.repeat(8) });
    expect(proved).toBe(false);
    expect(await proving).toMatchObject({ message: { type: 'commitment' } });
    expect(await bus.request('check.c1', capacity('busy', { type: 'end' }))).toEqual({ ended: true });
  }, 60_000);
});

describe('serveChecks: bad input is answered, never thrown', () => {
  it('answers malformed requests with protocol errors and keeps serving', async () => {
    const bus = new MemoryBus(); // no validation: the server sees whatever a peer sent
    serve(bus, 'c1');
    const bad: unknown[] = [
      null,
      42,
      'probe',
      [],
      {},
      { op: 'probe', checker: 'k' },
      { op: 'probe', checker: 'k', nonce: 'not hex!' },
      { op: 'capacity', checker: 'k', session: 'a.b', message: { type: 'start' } },
      { op: 'capacity', checker: 'k', session: 's', message: 'start' },
      { op: 'capacity', checker: 'k', session: 's', message: { type: 'start' }, extra: 1 },
      { op: 'delete-everything' },
    ];
    for (const data of bad)
      expect(await bus.request('check.c1', data)).toEqual(protocolError(/^malformed check request/));
    expect(bus.stats().dropped).toBe(0);
    expect(await bus.request('check.c1', { op: 'probe', checker: 'k', nonce: 'ab'.repeat(8) })).toMatchObject(
      { nonce: 'ab'.repeat(8) },
    );
  });

  it('answers out-of-order and invalid capacity steps with protocol errors', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = countedProvers();
    serve(bus, 'c1', { prover: factory });
    const req = (session: string, m: Record<string, unknown>) =>
      bus.request('check.c1', capacity(session, m));

    expect(await req('s1', challenge(1))).toEqual(protocolError(/no capacity session s1 .*start/));
    expect(await req('s1', { type: 'open', id: 'x', indices: [0] })).toEqual(protocolError(/start/));
    expect(await req('s1', { type: 'start' })).toMatchObject({ message: { type: 'ready' } });
    expect(await req('s1', { type: 'start' })).toEqual(protocolError(/already started/));
    expect(await req('s1', { type: 'bogus' })).toEqual(protocolError(/unknown type "bogus"/));
    expect(await req('s1', { ...challenge(2), n: 100 })).toEqual(protocolError(/challenge: n must be/));
    expect(await req('s1', { ...challenge(2), version: 99 })).toEqual(protocolError(/version 99/));
    // the session survived the bad steps
    const ch = challenge(3);
    expect(await req('s1', ch)).toMatchObject({ message: { type: 'commitment', id: ch.id } });
    expect(await req('s1', { type: 'open', id: ch.id, indices: [0, 5] })).toMatchObject({
      message: { type: 'rows' },
    });
    // rows do not end the session (a memory proof may follow); the checker's end does
    expect(made[0]!.closed).toBe(false);
    expect(await req('s1', { type: 'end' })).toEqual({ ended: true });
    expect(made[0]!.closed).toBe(true);
    expect(await req('never-started', { type: 'end' })).toEqual({ ended: true });

    // the prover's own error (an open before the challenge) is its answer, and ends the session
    await req('s2', { type: 'start' });
    expect(await req('s2', { type: 'open', id: 'cap-x', indices: [0] })).toMatchObject({
      message: { type: 'error', message: 'open before a challenge' },
    });
    expect(made[1]!.closed).toBe(true);

    // a checker's error message ends the session
    await req('s3', { type: 'start' });
    expect(await req('s3', { type: 'error', message: 'giving up' })).toEqual({ ended: true });
    expect(made[2]!.closed).toBe(true);
  });

  it('keeps sessions apart per checker and refuses more than maxSessions', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = countedProvers();
    serve(bus, 'c1', { prover: factory, maxSessions: 2, deviceSessions: 2 });
    const start = (s: string, checker: string) =>
      bus.request('check.c1', capacity(s, { type: 'start' }, checker));
    expect(await start('s', 'checker-a')).toMatchObject({ message: { type: 'ready' } });
    expect(await start('s', 'checker-b')).toMatchObject({ message: { type: 'ready' } });
    // not a failed proof: the checker takes started: false as "not answered"
    expect(await start('s', 'checker-c')).toEqual({
      closed: 'busy: 2 capacity sessions are open (at most 2)',
      started: false,
    });
    expect(made).toHaveLength(2);
    await bus.request('check.c1', capacity('s', { type: 'end' }, 'checker-a'));
    expect(made[0]!.closed).toBe(true);
    expect(made[1]!.closed).toBe(false);
    expect(await start('s', 'checker-c')).toMatchObject({ message: { type: 'ready' } });
  });

  it('closes idle sessions after sessionIdleMs, and every session on stop', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = countedProvers();
    const t = manualTimers();
    const logs: string[] = [];
    const stop = serve(bus, 'c1', {
      prover: factory,
      timers: t.timers,
      deviceSessions: 4,
      sessionIdleMs: 60_000,
      log: (m) => logs.push(m),
    });
    await bus.request('check.c1', capacity('idle', { type: 'start' }));
    await bus.request('check.c1', capacity('kept', { type: 'start' }));
    // a step re-arms its session's idle timer
    const ch = challenge(4);
    await bus.request('check.c1', capacity('kept', ch));
    expect(made.map((m) => m.closed)).toEqual([false, false]);
    t.fire(60_000);
    expect(made.map((m) => m.closed)).toEqual([true, true]);
    expect(logs.some((l) => /idle for 60000 ms/.test(l))).toBe(true);
    expect(await bus.request('check.c1', capacity('idle', ch))).toEqual(
      protocolError(/no capacity session idle/),
    );

    await bus.request('check.c1', capacity('last', { type: 'start' }));
    stop();
    expect(made[2]!.closed).toBe(true);
    await expect(
      bus.request('check.c1', { op: 'probe', checker: 'k', nonce: 'ab'.repeat(8) }),
    ).rejects.toThrow(/no responder/);
  });

  it('reports a prover that crashes, prints garbage, or cannot start', async () => {
    const bus = new MemoryBus({ validate: true });
    const READY = JSON.stringify({ type: 'ready', version: 1, prover: 'test' });
    const scripts: Record<string, string> = {
      crash: `console.log(${JSON.stringify(READY)}); process.stdin.once('data', () => process.exit(7))`,
      garbage: `console.log(${JSON.stringify(READY)}); process.stdin.once('data', () => console.log('hello'))`,
    };
    let which = 'crash';
    serve(bus, 'c1', {
      prover: () => {
        if (which === 'throws') throw new Error('no prover here');
        return [process.execPath, '-e', scripts[which]!];
      },
      spawn: { killAfterMs: 200 },
    });
    const req = (s: string, m: Record<string, unknown>) =>
      bus.request('check.c1', capacity(s, m), { timeoutMs: 20_000 });

    await req('crash', { type: 'start' });
    expect(await req('crash', challenge(5))).toEqual({
      closed: 'the prover exited with code 7',
      started: true,
    });

    which = 'garbage';
    await req('garbage', { type: 'start' });
    expect(await req('garbage', challenge(6))).toMatchObject({ invalid: 'hello', error: 'not JSON' });

    which = 'throws';
    expect(await req('throws', { type: 'start' })).toEqual({
      closed: 'cannot start the prover: no prover here',
      started: true,
    });
    // none of it stopped the server
    expect(await bus.request('check.c1', { op: 'probe', checker: 'k', nonce: 'cd'.repeat(8) })).toMatchObject(
      { nonce: 'cd'.repeat(8) },
    );
  }, 30_000);

  it('kills a spawned prover when the session ends mid-proof', async () => {
    const bus = new MemoryBus({ validate: true });
    const made: Array<{ closed: boolean }> = [];
    serve(bus, 'c1', {
      prover: () => {
        const inner = spawnProver(
          [
            process.execPath,
            '-e',
            `console.log('{"type":"ready","version":1,"prover":"stuck"}'); for (;;) {}`,
          ],
          { killAfterMs: 200 },
        );
        const rec = { closed: false };
        made.push(rec);
        return {
          send: (m) => inner.send(m),
          receive: (t): Promise<Received> => inner.receive(t),
          close: async () => {
            await inner.close();
            rec.closed = true;
          },
        };
      },
    });
    await bus.request('check.c1', capacity('s', { type: 'start' }), { timeoutMs: 20_000 });
    const pending = bus.request('check.c1', capacity('s', challenge(7)), { timeoutMs: 20_000 });
    expect(await bus.request('check.c1', capacity('s', { type: 'end' }))).toEqual({ ended: true });
    expect(made[0]!.closed).toBe(true);
    expect(await pending).toMatchObject({ closed: expect.stringMatching(/killed \(SIGKILL\)/) });
  }, 30_000);
});

describe('SimulatedGpuMemory (SIMULATED hardware)', () => {
  it('reserves and releases, never beyond its total', () => {
    const d = new SimulatedGpuMemory(512);
    expect(d.reserve(300)).toBe(true);
    expect(d.reserve(300)).toBe(false);
    expect(d.freeMiB()).toBe(212);
    d.release(300);
    expect(d.reserve(512)).toBe(true);
    expect(d.reserve(-1)).toBe(false);
    expect(d.usedMiB()).toBe(512);
  });

  it('a simulated prover holds its memory from the challenge until its session ends', async () => {
    const bus = new MemoryBus({ validate: true });
    const device = new SimulatedGpuMemory(256);
    // two sessions on the device at once (not the default): the device itself refuses the second
    serve(bus, 'c1', { prover: simulatedGpuProver(device), deviceSessions: 2 });
    const req = (s: string, m: Record<string, unknown>) => bus.request('check.c1', capacity(s, m));
    expect(await req('a', { type: 'start' })).toMatchObject({
      message: { type: 'ready', prover: 'simulated-gpu', device: 'SIMULATED GPU (256 MiB)' },
    });
    await req('b', { type: 'start' });
    expect(await req('a', challenge(8, 128, { memoryMiB: 200 }))).toMatchObject({
      message: { type: 'commitment', memoryMiB: 200 },
    });
    expect(device.usedMiB()).toBe(200);
    expect(await req('b', challenge(9, 128, { memoryMiB: 200 }))).toEqual({
      message: {
        type: 'error',
        code: 'memory',
        message: 'cpu prover: cannot hold 200 MiB at once: 56 MiB free on its device',
      },
    });
    await req('a', { type: 'end' });
    expect(device.usedMiB()).toBe(0);
  });

  it('by default sessions take the device in turn: two memory proofs of an honest host both pass', async () => {
    const bus = new MemoryBus({ validate: true });
    const device = new SimulatedGpuMemory(256);
    const logs: string[] = [];
    serve(bus, 'c1', { prover: simulatedGpuProver(device), log: (m) => logs.push(m) });
    const req = (s: string, m: Record<string, unknown>, checker = 'checker-1') =>
      bus.request('check.c1', capacity(s, m, checker), { timeoutMs: 10_000 });
    expect(await req('a', { type: 'start' })).toMatchObject({ message: { type: 'ready' } });
    let bStarted: unknown = null;
    const b = req('b', { type: 'start' }, 'checker-2').then((r) => (bStarted = r));
    expect(await req('a', challenge(8, 128, { memoryMiB: 200 }))).toMatchObject({
      message: { type: 'commitment', memoryMiB: 200 },
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(bStarted).toBeNull(); // still waiting for the device
    await req('a', { type: 'end' });
    expect(await b).toMatchObject({ message: { type: 'ready' } });
    expect(await req('b', challenge(9, 128, { memoryMiB: 200 }), 'checker-2')).toMatchObject({
      message: { type: 'commitment', memoryMiB: 200 },
    });
    await req('b', { type: 'end' }, 'checker-2');
    expect(device.usedMiB()).toBe(0);
    expect(logs.filter((l) => /started/.test(l))).toHaveLength(2);
  });

  it('a start that waits longer than deviceWaitMs is answered busy (not a failed proof); an end while waiting cancels it', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = countedProvers();
    const t = manualTimers();
    serve(bus, 'c1', { prover: factory, timers: t.timers, deviceWaitMs: 30_000 });
    const req = (s: string, m: Record<string, unknown>) =>
      bus.request('check.c1', capacity(s, m), { timeoutMs: 10_000 });
    expect(await req('holder', { type: 'start' })).toMatchObject({ message: { type: 'ready' } });
    const late = req('late', { type: 'start' });
    const cancelled = req('cancelled', { type: 'start' });
    const next = req('next', { type: 'start' });
    await new Promise((r) => setTimeout(r, 20));
    expect(made).toHaveLength(1); // no prover is started for a waiting session
    // the checker gives one waiting session up
    expect(await req('cancelled', { type: 'end' })).toEqual({ ended: true });
    expect(await cancelled).toEqual({ closed: 'the session ended before it had the device', started: false });
    // a step of a session that waits is not taken
    expect(await req('late', challenge(4))).toEqual(protocolError(/no capacity session late/));
    t.fire(30_000); // every wait runs out (sessions' idle timers are 60 s: not fired)
    expect(await late).toEqual({ closed: 'busy: the device was not free within 30000 ms', started: false });
    expect(await next).toEqual({ closed: 'busy: the device was not free within 30000 ms', started: false });
    expect(made).toHaveLength(1);
    // the device is still the holder's; once it ends, a new start gets it at once
    await req('holder', { type: 'end' });
    expect(await req('again', { type: 'start' })).toMatchObject({ message: { type: 'ready' } });
    expect(made).toHaveLength(2);
  });

  it('stop answers every waiting start and starts no prover for it', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = countedProvers();
    const stop = serve(bus, 'c1', { prover: factory });
    const req = (s: string, m: Record<string, unknown>) =>
      bus.request('check.c1', capacity(s, m), { timeoutMs: 10_000 });
    await req('holder', { type: 'start' });
    const waiting = req('waiting', { type: 'start' });
    await new Promise((r) => setTimeout(r, 20));
    stop();
    expect(await waiting).toEqual({ closed: 'the session ended before it had the device', started: false });
    expect(made).toHaveLength(1);
    expect(made[0]!.closed).toBe(true);
  });
});

describe('ledgerCheckerGate: only the ledger’s checkers may start a capacity session', () => {
  const checker = keyPairFromSeed('gate:checker');
  const stranger = keyPairFromSeed('gate:stranger');
  const setup = (checkers: () => Promise<string[]> = async () => [checker.address]) => {
    const bus = new MemoryBus({ validate: true });
    const clock = new ManualClock(5_000_000);
    const { made, factory } = countedProvers();
    const logs: string[] = [];
    let asked = 0;
    serve(bus, 'c1', {
      prover: factory,
      log: (m) => logs.push(m),
      admitStart: ledgerCheckerGate({
        container: 'c1',
        clock,
        checkers: () => {
          asked++;
          return checkers();
        },
      }),
    });
    const start = (
      key: { address: string; publicKey: string; secretKey: string },
      session: string,
      o: object = {},
    ) =>
      bus.request(
        'check.c1',
        {
          ...capacity(session, { type: 'start' }, key.address),
          auth: signCapacityStart(key, { container: 'c1', checker: key.address, session, at: clock.now() }),
          ...o,
        },
        { timeoutMs: 5_000 },
      );
    /** a later step of a session, signed by `key` with sequence number `seq` */
    const signed = (
      key: { address: string; secretKey: string },
      session: string,
      message: Record<string, unknown>,
      seq: number,
      checkerName = key.address,
    ) =>
      bus.request(
        'check.c1',
        {
          ...capacity(session, message, checkerName),
          step: signCapacityStep(key, { container: 'c1', checker: checkerName, session, seq, message }),
        },
        { timeoutMs: 30_000 },
      );
    return { bus, clock, made, logs, start, signed, asked: () => asked };
  };

  it('admits a start its checker signed; refuses an unsigned one, a stranger’s, a replay and one signed for another host, starting no prover for them', async () => {
    const { bus, made, logs, start, signed } = setup();
    const refused = (why: RegExp) => ({ closed: expect.stringMatching(why), started: false });
    // unsigned, in the checker's name
    expect(await bus.request('check.c1', capacity('s0', { type: 'start' }, checker.address))).toEqual(
      refused(/^refused: the start is not signed$/),
    );
    // a stranger's own key and signature
    expect(await start(stranger, 's1')).toEqual(refused(/^refused: ath\w+ is not a checker of the ledger$/));
    // the checker's name with the stranger's key
    expect(
      await start(stranger, 's2', {
        checker: checker.address,
        auth: signCapacityStart(stranger, {
          container: 'c1',
          checker: checker.address,
          session: 's2',
          at: 5_000_000,
        }),
      }),
    ).toEqual(refused(/^refused: the key is not/));
    // signed for another host
    expect(
      await start(checker, 's3', {
        auth: signCapacityStart(checker, {
          container: 'c2',
          checker: checker.address,
          session: 's3',
          at: 5_000_000,
        }),
      }),
    ).toEqual(refused(/^refused: the signature does not verify$/));
    expect(made).toHaveLength(0);
    expect(logs.filter((l) => /refused/.test(l))).toHaveLength(4);

    expect(await start(checker, 'ok')).toMatchObject({ message: { type: 'ready' } });
    expect(made).toHaveLength(1);
    expect(await signed(checker, 'ok', { type: 'end' }, 1)).toEqual({ ended: true });
    // the same signed start again (seen on the bus and sent back) is refused
    expect(await start(checker, 'ok')).toEqual(refused(/^refused: this start was used before$/));
    expect(made).toHaveLength(1);
  });

  it('strangers’ starts do not take the device: the ledger checker’s start is answered at once', async () => {
    const { made, start, signed } = setup();
    for (let i = 0; i < 6; i++) expect(await start(stranger, `squat-${i}`)).toMatchObject({ started: false });
    expect(await start(checker, 'mine')).toMatchObject({ message: { type: 'ready' } });
    expect(made).toHaveLength(1);
    expect(await signed(checker, 'mine', { type: 'end' }, 1)).toEqual({ ended: true });
  });

  it('a signed session takes later steps only from its checker: a stranger’s end, a forged or unsigned step, a replay or a step for another session change nothing, and the proof passes', async () => {
    const { bus, made, logs, start, signed } = setup();
    expect(await start(checker, 'sess')).toMatchObject({ message: { type: 'ready' } });
    const refusedStep = (why: RegExp) =>
      protocolError(new RegExp(`^capacity session sess: refused: ${why.source}`));
    // whoever saw the session id on the bus: an unsigned end, and one signed with their own key
    expect(await bus.request('check.c1', capacity('sess', { type: 'end' }, checker.address))).toEqual(
      refusedStep(/the step is not signed$/),
    );
    expect(await signed(stranger, 'sess', { type: 'end' }, 1, checker.address)).toEqual(
      refusedStep(/the step is not signed by the checker that started the session$/),
    );
    // the checker's signature on another message, on another session's step, for another host
    const ch = challenge(7);
    const stepFor = (o: { session?: string; container?: string; message?: Record<string, unknown> }) =>
      signCapacityStep(checker, {
        container: o.container ?? 'c1',
        checker: checker.address,
        session: o.session ?? 'sess',
        seq: 1,
        message: o.message ?? ch,
      });
    for (const step of [
      stepFor({ message: challenge(8) }),
      stepFor({ session: 'other' }),
      stepFor({ container: 'c2' }),
    ])
      expect(await bus.request('check.c1', { ...capacity('sess', ch, checker.address), step })).toEqual(
        refusedStep(/the step is not signed by the checker that started the session$/),
      );
    expect(made[0]!.closed).toBe(false);
    // the checker's own steps go through: the proof runs to its rows
    const commitment = await signed(checker, 'sess', ch, 1);
    expect(commitment).toMatchObject({ message: { type: 'commitment' } });
    // that same signed step, seen on the bus and sent again, is refused; so is one numbered lower
    expect(await signed(checker, 'sess', ch, 1)).toEqual(refusedStep(/step 1 is not after step 1/));
    const reveal = { type: 'open', id: ch.id, indices: [0, 5] };
    expect(await signed(checker, 'sess', reveal, 1)).toEqual(refusedStep(/step 1 is not after step 1/));
    expect(await signed(checker, 'sess', reveal, 2)).toMatchObject({ message: { type: 'rows' } });
    // unsigned end, self-signed end, three moved signatures, two replays
    expect(logs.filter((l) => /a step was refused/.test(l))).toHaveLength(7);
    expect(await signed(checker, 'sess', { type: 'end' }, 3)).toEqual({ ended: true });
    expect(made[0]!.closed).toBe(true);
  });

  it('a start admitted while the host stops starts no prover', async () => {
    const bus = new MemoryBus({ validate: true });
    const { made, factory } = countedProvers();
    let release!: () => void;
    const stop = serve(bus, 'c1', {
      prover: factory,
      admitStart: () => new Promise<null>((r) => (release = () => r(null))),
    });
    const started = bus.request('check.c1', capacity('s', { type: 'start' }), { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 20));
    stop();
    release();
    expect(await started).toEqual(protocolError(/the container is stopping/));
    expect(made).toHaveLength(0);
  });

  it('a checker that joined the ledger after the host read its list is admitted once the list is read again (at most every 5 s); a failing read refuses, saying so', async () => {
    let list = [stranger.address];
    let fail = false;
    const { clock, start, asked } = setup(async () => {
      if (fail) throw new Error('the node is unreachable');
      return list;
    });
    expect(await start(checker, 'a')).toMatchObject({ closed: expect.stringMatching(/is not a checker/) });
    list = [stranger.address, checker.address];
    expect(await start(checker, 'b')).toMatchObject({ closed: expect.stringMatching(/is not a checker/) });
    expect(asked()).toBe(1);
    clock.advance(5_000);
    expect(await start(checker, 'c')).toMatchObject({ message: { type: 'ready' } });
    expect(asked()).toBe(2);
    clock.advance(60_000);
    fail = true;
    expect(await start(checker, 'd')).toEqual({
      closed: "refused: the ledger's checkers could not be read: the node is unreachable",
      started: false,
    });
  });
});

describe('ledgerCheckerGate: only the ledger’s checkers may make a host read its volumes', () => {
  it('a storage challenge its checker signed is answered once; unsigned, a stranger’s, one moved to other blocks or a replay read nothing', async () => {
    const checker = keyPairFromSeed('gate:checker');
    const stranger = keyPairFromSeed('gate:stranger');
    const bus = new MemoryBus({ validate: true });
    const clock = new ManualClock(5_000_000);
    const reads: number[][] = [];
    serve(bus, 'c1', {
      storage: async (_v, nonce, blocks) => {
        reads.push(blocks);
        return `proof-of-${nonce}`;
      },
      admitStart: ledgerCheckerGate({ container: 'c1', clock, checkers: async () => [checker.address] }),
    });
    const challenge = { op: 'storage', volume: 'vol1', nonce: 'ab'.repeat(16), blocks: [3, 1, 4] };
    const auth = (key: typeof checker, c: { volume: string; nonce: string; blocks: number[] }) =>
      signCapacityStart(key, {
        container: 'c1',
        checker: key.address,
        session: storageChallengeId(c),
        at: clock.now(),
      });
    const ask = (body: object) => bus.request('check.c1', body, { timeoutMs: 5_000 });

    expect(await ask({ ...challenge, checker: checker.address })).toEqual({
      error: 'refused: the start is not signed',
    });
    expect(await ask({ ...challenge, checker: stranger.address, auth: auth(stranger, challenge) })).toEqual({
      error: expect.stringMatching(/^refused: ath\w+ is not a checker of the ledger$/),
    });
    // the checker's signature on other blocks, sent with these
    const other = { ...challenge, blocks: [9, 9 - 1] };
    expect(await ask({ ...challenge, checker: checker.address, auth: auth(checker, other) })).toEqual({
      error: 'refused: the signature does not verify',
    });
    expect(reads).toEqual([]);

    const signed = { ...challenge, checker: checker.address, auth: auth(checker, challenge) };
    expect(await ask(signed)).toEqual({
      container: 'c1',
      volume: 'vol1',
      nonce: challenge.nonce,
      proof: `proof-of-${challenge.nonce}`,
    });
    // seen on the bus and sent again: refused, nothing read
    expect(await ask(signed)).toEqual({ error: 'refused: this start was used before' });
    expect(reads).toEqual([[3, 1, 4]]);
  });
});

describe('chooseProver: the prover a GPU host answers challenges with', () => {
  const fakePython = (exitCode: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'aethir-python-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'python3');
    writeFileSync(file, `#!/bin/sh\nexit ${exitCode}\n`);
    chmodSync(file, 0o755);
    return file;
  };

  it('the GPU prover where PyTorch sees a CUDA device', async () => {
    const python = fakePython(0);
    const c = await chooseProver({ python });
    expect(c.kind).toBe('gpu');
    expect(c.argv.slice(0, 2)).toEqual([python, '-u']);
    expect(c.argv[2]).toMatch(/gpu_prover\.py$/);
  });

  it('the CPU prover, with the reason, where PyTorch sees no GPU, is missing, or there is no python', async () => {
    expect(await chooseProver({ python: fakePython(3) })).toMatchObject({
      kind: 'cpu',
      why: 'PyTorch sees no CUDA device',
    });
    const noTorch = await chooseProver({ python: fakePython(1) });
    expect(noTorch).toMatchObject({
      kind: 'cpu',
      why: expect.stringMatching(/cannot import torch \(exit 1\)/),
    });
    expect(noTorch.argv).toEqual(cpuProverCommand());
    const none = await chooseProver({ python: '/nonexistent/python3' });
    expect(none).toMatchObject({ kind: 'cpu', why: expect.stringMatching(/^\/nonexistent\/python3: /) });
  });
});
