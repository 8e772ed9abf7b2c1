import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng, systemClock } from '../../../src/core/index.js';
import {
  commitTo,
  cpuProverCommand,
  CpuProverSession,
  gpuProverCommand,
  openRows,
  prove,
  runCapacityCheck,
  secureRng,
  type Challenge,
  type CheckerMessage,
  type ProverChannel,
  type ProverMessage,
  type Proof,
  type Received,
} from '../../../src/capacity/index.js';

/** A prover in this process: `handle` answers each checker message (null: never answers). */
function inProcess(
  handle: (m: CheckerMessage) => ProverMessage | null,
  ready = new CpuProverSession().ready(),
) {
  const queue: ProverMessage[] = [ready];
  let waiter: ((r: Received) => void) | null = null;
  const channel: ProverChannel = {
    send(m) {
      const out = handle(m);
      if (!out) return;
      if (waiter) waiter({ kind: 'message', message: out });
      else queue.push(out);
    },
    receive(timeoutMs) {
      const next = queue.shift();
      if (next) return Promise.resolve({ kind: 'message', message: next });
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiter = null;
          resolve({ kind: 'timeout' });
        }, timeoutMs);
        waiter = (r) => {
          clearTimeout(t);
          waiter = null;
          resolve(r);
        };
      });
    },
    close: async () => {},
  };
  return channel;
}

/** A cheater that commits to C as `tamper` leaves it, then opens that C honestly. */
function cheater(tamper: (ch: Challenge, c: Int32Array) => Int32Array, rootOverride?: string) {
  let p: Proof | null = null;
  return inProcess((m) => {
    if (m.type === 'challenge') {
      p = commitTo(m, tamper(m, prove(m).c.slice()));
      return { type: 'commitment', id: m.id, root: rootOverride ?? p.root, elapsedMs: 1 };
    }
    if (m.type === 'open' && p) return { type: 'rows', rows: openRows(p, m.indices) };
    return null;
  });
}

const base = { claim: {}, n: 128, memoryMiB: null } as const;
const node = (script: string) => [process.execPath, '-e', script];
const READY = JSON.stringify({ type: 'ready', version: 1, prover: 'test' });

describe('runCapacityCheck: the built-in CPU prover', () => {
  it('passes the honest CPU prover, n = 128 with a memory test and n = 256', async () => {
    const rng = new SeededRng('honest-spawned');
    const a = await runCapacityCheck({
      prover: cpuProverCommand(),
      claim: { memoryMiB: 32 }, // cpu class: the prover must hold half of it
      n: 128,
      rng,
      clock: systemClock,
    });
    expect(a).toMatchObject({ ok: true, code: 'passed', n: 128, k: 32, prover: { prover: 'cpu' } });
    expect(a.proveMs).toBeLessThan(a.deadlineMs);
    expect(a.verifyMs).toBeGreaterThanOrEqual(0);
    const b = await runCapacityCheck({
      ...base,
      prover: cpuProverCommand(),
      n: 256,
      rng,
      clock: systemClock,
    });
    expect(b).toMatchObject({ ok: true, code: 'passed', n: 256 });
  });

  it('passes honest in-process sessions over several seeds, with Freivalds and exact checks', async () => {
    for (let s = 0; s < 4; s++) {
      const session = new CpuProverSession({ clock: new ManualClock() });
      const r = await runCapacityCheck({
        ...base,
        prover: inProcess((m) => session.handle(m)),
        rng: new SeededRng(s),
        clock: new ManualClock(),
        exact: s % 2 === 1,
      });
      expect(r).toMatchObject({ ok: true, code: 'passed' });
    }
  });

  it('fails a CPU prover asked to hold more memory than the host has, and says so', async () => {
    const session = new CpuProverSession(); // os.freemem(), as in the spawned prover
    const r = await runCapacityCheck({
      ...base,
      prover: inProcess((m) => session.handle(m)),
      memoryMiB: 1e9, // a petabyte
      rng: new SeededRng(1),
      clock: systemClock,
    });
    expect(r).toMatchObject({ ok: false, code: 'memory' });
    expect(r.reason).toMatch(/cannot hold 1000000000 MiB at once: \d+ MiB free/);
  });

  it('--max-memory-mib caps what the spawned CPU prover says this host can give; a bad value is refused', async () => {
    const capped = (memoryMiB: number) =>
      runCapacityCheck({
        ...base,
        prover: cpuProverCommand(['--max-memory-mib', '3']),
        memoryMiB,
        rng: new SeededRng(3),
        clock: systemClock,
      });
    const r = await capped(4);
    expect(r).toMatchObject({ ok: false, code: 'memory' });
    expect(r.reason).toMatch(/cpu prover: cannot hold 4 MiB at once: 3 MiB free on this host/);
    const within = await capped(3);
    expect(within, within.reason).toMatchObject({ ok: true, code: 'passed' });
    const [cmd, ...args] = cpuProverCommand(['--max-memory-mib', 'lots']);
    const bad = spawnSync(cmd!, args, { input: '', encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--max-memory-mib must be a whole number of MiB, not "lots"');
    expect(bad.stdout).toBe('');
  });

  it('fails a prover that reports holding less memory than required', async () => {
    const session = new CpuProverSession({ clock: new ManualClock(), freeMemoryMiB: () => 1 << 20 });
    const r = await runCapacityCheck({
      ...base,
      memoryMiB: 8,
      prover: inProcess((m) => {
        const out = session.handle(m);
        return out.type === 'commitment' ? { ...out, memoryMiB: 4 } : out;
      }),
      rng: new SeededRng(2),
      clock: new ManualClock(),
    });
    expect(r).toMatchObject({ ok: false, code: 'memory' });
  });
});

describe('runCapacityCheck: cheaters', () => {
  const run = (prover: ProverChannel, extra: object = {}) =>
    runCapacityCheck({ ...base, prover, rng: new SeededRng('cheat'), clock: new ManualClock(), ...extra });

  it('fails a made-up root', async () => {
    const r = await run(cheater((_, c) => c, 'cd'.repeat(32)));
    expect(r).toMatchObject({ ok: false, code: 'spot-check' });
    expect(r.reason).toMatch(/Merkle proof does not lead to the committed root/);
  });

  it('fails made-up results committed consistently', async () => {
    const r = await run(cheater((_, c) => c.map((v) => v ^ 1)));
    expect(r).toMatchObject({ ok: false, code: 'spot-check' });
    expect(r.reason).toMatch(/is not row \d+ of A·B/);
  });

  it('fails a prover that computed only a quarter of the rows (passes with ≤ (1/4)^32)', async () => {
    const r = await run(
      cheater((ch, c) => {
        for (let i = 0; i < ch.n; i++) if (i % 4 !== 0) c.fill(0, i * ch.n, (i + 1) * ch.n);
        return c;
      }),
    );
    expect(r).toMatchObject({ ok: false, code: 'spot-check' });
  });

  it('fails a replayed commitment from an old seed', async () => {
    const old = prove({ id: 'cap-old', seed: '42'.repeat(32), n: 128, deadlineMs: 1000, issuedAt: 0 });
    const r = await run(
      inProcess((m) => {
        if (m.type === 'challenge') return { type: 'commitment', id: m.id, root: old.root, elapsedMs: 1 };
        if (m.type === 'open') return { type: 'rows', rows: openRows(old, m.indices) };
        return null;
      }),
    );
    expect(r).toMatchObject({ ok: false, code: 'spot-check' });
  });

  it('fails a commitment for another challenge id', async () => {
    const session = new CpuProverSession({ clock: new ManualClock() });
    const r = await run(
      inProcess((m) => {
        const out = session.handle(m);
        return out.type === 'commitment' ? { ...out, id: 'cap-other' } : out;
      }),
    );
    expect(r).toMatchObject({ ok: false, code: 'protocol' });
  });
});

describe('runCapacityCheck: deadlines and broken provers never hang', () => {
  it('fails a prover whose commitment comes after the deadline (checker clock)', async () => {
    const clock = new ManualClock();
    const session = new CpuProverSession({ clock });
    const r = await runCapacityCheck({
      ...base,
      deadlineMs: 500,
      prover: inProcess((m) => {
        if (m.type === 'challenge') clock.advance(501);
        return session.handle(m);
      }),
      rng: new SeededRng(3),
      clock,
    });
    expect(r).toMatchObject({ ok: false, code: 'deadline', proveMs: 501 });
    expect(r.reason).toMatch(/after 501 ms, past the deadline of 500 ms/);
  });

  it('stops waiting at the deadline for a prover that never commits', async () => {
    const r = await runCapacityCheck({
      ...base,
      deadlineMs: 150,
      prover: node(`console.log(${JSON.stringify(READY)}); setInterval(() => {}, 1000)`),
      spawn: { killAfterMs: 100 },
      rng: new SeededRng(4),
      clock: systemClock,
    });
    expect(r).toMatchObject({ ok: false, code: 'deadline', proveMs: null });
    expect(r.reason).toMatch(/no commitment within the deadline of 150 ms/);
  });

  it('stops waiting for rows that never come', async () => {
    const session = new CpuProverSession({ clock: new ManualClock() });
    const r = await runCapacityCheck({
      ...base,
      openTimeoutMs: 100,
      prover: inProcess((m) => (m.type === 'open' ? null : session.handle(m))),
      rng: new SeededRng(5),
      clock: new ManualClock(),
    });
    expect(r).toMatchObject({ ok: false, code: 'timeout' });
  });

  it('fails a silent prover at start, a crashing one, and one that prints garbage', async () => {
    const common = { ...base, rng: new SeededRng(6), clock: systemClock, spawn: { killAfterMs: 100 } };
    const silent = await runCapacityCheck({
      ...common,
      prover: node('setInterval(() => {}, 1000)'),
      startupTimeoutMs: 150,
    });
    expect(silent).toMatchObject({ ok: false, code: 'startup' });

    const crash = await runCapacityCheck({
      ...common,
      prover: node(
        `console.log(${JSON.stringify(READY)}); process.stdin.once('data', () => { console.error('segfault, sort of'); process.exit(7); })`,
      ),
    });
    expect(crash).toMatchObject({ ok: false, code: 'crash' });
    expect(crash.reason).toMatch(/exited with code 7 before its commitment; stderr: segfault, sort of/);

    const garbage = await runCapacityCheck({ ...common, prover: node('console.log("hello, checker")') });
    expect(garbage).toMatchObject({ ok: false, code: 'protocol' });
    expect(garbage.reason).toMatch(/not a protocol message \(not JSON\) on start: "hello, checker"/);

    const longLine = await runCapacityCheck({
      ...common,
      prover: node(`process.stdout.write('x'.repeat(5000)); setInterval(() => {}, 1000)`),
      spawn: { killAfterMs: 100, maxLineBytes: 1000 },
    });
    expect(longLine).toMatchObject({ ok: false, code: 'protocol' });

    const missing = await runCapacityCheck({ ...common, prover: ['/nonexistent/aethir-prover'] });
    expect(missing).toMatchObject({ ok: false, code: 'spawn' });
  });
});

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = !python.error && python.status === 0;
const torchProbe = hasPython
  ? spawnSync('python3', ['-c', 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")'], {
      encoding: 'utf8',
      timeout: 60_000,
    })
  : null;
const torch = !torchProbe || torchProbe.status !== 0 ? 'none' : torchProbe.stdout.trim();

describe('runCapacityCheck: the GPU prover', () => {
  // one test: skipped, visibly and with the reason in its title, where python3 is missing
  it.skipIf(!hasPython)(
    !hasPython
      ? 'the GPU prover (SKIPPED: python3 is not on PATH, so the prover cannot run here)'
      : `the GPU prover ${torch === 'cuda' ? 'passes on this CUDA device' : `reports clearly that it cannot prove (torch: ${torch})`}`,
    async () => {
      const r = await runCapacityCheck({
        prover: gpuProverCommand(),
        claim: { gpuClass: 'h100' },
        n: 256,
        deadlineMs: 60_000,
        memoryMiB: null,
        rng: new SeededRng(7),
        clock: systemClock,
      });
      if (torch === 'cuda') expect(r).toMatchObject({ ok: true, prover: { prover: 'gpu' } });
      else {
        expect(r).toMatchObject({ ok: false, code: 'prover-error' });
        expect(r.reason).toMatch(
          torch === 'none' ? /PyTorch is not available \(import torch failed/ : /sees no CUDA device/,
        );
      }
    },
    90_000,
  );
});

describe('secureRng', () => {
  it('draws from the OS CSPRNG: distinct, in range', () => {
    const rng = secureRng();
    const xs = Array.from({ length: 300 }, () => rng.nextU32());
    expect(new Set(xs).size).toBeGreaterThan(295);
    for (let i = 0; i < 200; i++) {
      const f = rng.next();
      expect(f >= 0 && f < 1).toBe(true);
      const v = rng.int(3, 5);
      expect(v >= 3 && v <= 5).toBe(true);
    }
    expect(['a', 'b']).toContain(rng.pick(['a', 'b']));
  });
});
