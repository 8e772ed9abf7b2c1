import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  ath,
  encKeyOf,
  keyPairFromSeed,
  sealEnv,
  signLeaseToken,
  signedByContainer,
  type KeyPair,
} from '../../../src/core/index.js';
import {
  parseGenesis,
  signReceipt,
  type ContainerSpec,
  type Lease,
  type Location,
  type Payload,
} from '../../../src/ledger/index.js';
import { SqliteChainStore } from '../../../src/store/index.js';
import { EndpointProxy } from '../../../src/container/endpoint-proxy.js';
import type { Runtime, WorkloadSpec } from '../../../src/container/runtimes/runtime.js';
import { MemoryBus, checkMessage } from '../../../src/bus/index.js';
import {
  ContainerAgent,
  HostProcessRuntime,
  subjects,
  type HeartbeatMsg,
  type LeaseLogMsg,
} from '../../../src/container/index.js';
import { Chain, InProcessNetwork } from '../../../src/node/index.js';
import { fanOutBlock } from '../../../src/node/roles.js';
import { cpuProverCommand } from '../../../src/capacity/index.js';
import { signCapacityStart } from '../../../src/core/check-auth.js';
import { TxSender } from '../../../src/sdk/index.js';

// Real chain, real bus, real processes. Nothing waits a fixed time for something to happen: we poll
// for the condition with a generous deadline, so a slow machine only makes the tests slower.
const SLOW = 60_000;

const host = keyPairFromSeed('agent-test:host');
const host2 = keyPairFromSeed('agent-test:host2');
const user = keyPairFromSeed('agent-test:user');
const checkerKeys = [1, 2, 3].map((i) => keyPairFromSeed(`agent-test:checker-${i}`));

const GPUS = 2;
const PRICE = ath(1);
const HEARTBEAT_MS = 50;
const NODE = process.execPath;

/** A host's spec; each host has GPUs of its own (the ledger refuses a GPU registered twice). */
const specOf = (host: string): ContainerSpec => ({
  source: 'declared',
  gpus: Array.from({ length: GPUS }, (_, i) => ({
    model: 'NVIDIA GeForce RTX 4090',
    memoryMiB: 24_564,
    uuid: `GPU-${host}-${i}`,
  })),
  cpu: { model: 'Test CPU', cores: 4 },
  memoryMiB: 8192,
  os: 'linux test',
});
const spec = specOf('test-host');
const location: Location = { city: 'Frankfurt', country: 'DE', region: 'eu-central', lat: 50.11, lon: 8.68 };

let clock: ManualClock;
let chain: Chain;
let network: InProcessNetwork;
let bus: MemoryBus;
let runtime: HostProcessRuntime;
let baseDir: string;
let agents: ContainerAgent[];
let agentLog: string[];
/** every lease output event seen on the bus, by lease id */
let output: Map<string, LeaseLogMsg[]>;
let heartbeats: HeartbeatMsg[];
let userSender: TxSender;

beforeEach(async () => {
  clock = new ManualClock();
  baseDir = await mkdtemp(path.join(os.tmpdir(), 'aethir-agent-'));
  chain = Chain.open(new SqliteChainStore(':memory:'), clock, () =>
    parseGenesis({
      chainId: 'agent-test',
      time: clock.now(),
      allocations: [
        { address: host.address, amount: ath(5000).toString() },
        { address: host2.address, amount: ath(5000).toString() },
        { address: user.address, amount: ath(100_000).toString() },
      ],
      checkers: checkerKeys.map((k) => k.address),
    }),
  );
  network = new InProcessNetwork(chain);
  bus = new MemoryBus();
  runtime = new HostProcessRuntime({ baseDir, now: () => clock.now(), killGraceMs: 1000 });
  agents = [];
  agentLog = [];
  output = new Map();
  heartbeats = [];
  userSender = new TxSender(user, network);
  bus.subscribe(subjects.allHeartbeats, (m) => heartbeats.push(m as HeartbeatMsg));
  bus.subscribe(subjects.allLeaseOutput, (m, subject) => {
    if (!subject.endsWith('.log') && !subject.endsWith('.exit')) return;
    const msg = m as LeaseLogMsg;
    expect(subject).toBe(msg.type === 'exit' ? subjects.leaseExit(msg.lease) : subjects.leaseLog(msg.lease));
    output.set(msg.lease, [...(output.get(msg.lease) ?? []), msg]);
  });
  // The ledger's lease events reach the agents over the bus, wired as src/node/devnet.ts does.
  chain.onBlock((e) => fanOutBlock(e, chain.ledger, { bus }));
});

afterEach(async () => {
  await Promise.allSettled(agents.map((a) => a.stop()));
  await runtime.stopAll();
  chain.close();
  await rm(baseDir, { recursive: true, force: true });
});

function newAgent(
  key: KeyPair = host,
  name = 'test-host',
  finalReceiptWaitMs = 100,
  logDir?: string,
  components: { runtime?: Runtime; endpoints?: EndpointProxy } = {},
): ContainerAgent {
  const a = new ContainerAgent(
    { network, bus, runtime, clock, log: (m) => agentLog.push(m), ...components },
    {
      key,
      name,
      spec: name === 'test-host' ? spec : specOf(name),
      location,
      pricePerHour: PRICE,
      heartbeatIntervalMs: HEARTBEAT_MS,
      stakeAuto: true,
      finalReceiptWaitMs,
      ...(logDir ? { logDir } : {}),
      // these hosts declare GPUs this machine lacks: the CPU prover, chosen here, not probed for
      prover: () => cpuProverCommand(),
    },
  );
  agents.push(a);
  return a;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = SLOW): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; agent log: ${JSON.stringify(agentLog)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** 2 of the 3 genesis checkers vote the container online. */
async function voteOnline(id: string): Promise<void> {
  for (const k of checkerKeys.slice(0, 2))
    await new TxSender(k, network).send('checker.report', {
      container: id,
      check: 'liveness',
      ok: true,
      observedAt: clock.now(),
    });
  expect(chain.ledger.container(id)!.status).toBe('online');
}

async function openLease(container: string, command: string[], extra: Partial<Payload<'lease.open'>> = {}) {
  // leases lock from the user's escrow balance
  if (chain.ledger.account(user.address).escrow < ath(1000))
    await userSender.send('escrow.deposit', { amount: ath(10_000) });
  const r = await userSender.send('lease.open', {
    container,
    gpus: 1,
    maxDurationSec: 3600,
    maxPricePerHour: PRICE,
    workload: { command },
    ...extra,
  });
  return String(r.result.lease);
}

/** The user's client: signs a usage receipt for `servedMs` and puts it on the bus, as the API node does. */
let seq = 0;
function sendReceipt(
  id: string,
  servedMs: number,
  opts: { key?: KeyPair; seq?: number; lease?: string } = {},
) {
  const r = signReceipt(opts.key ?? user, 'agent-test', {
    lease: opts.lease ?? id,
    servedMs,
    seq: opts.seq ?? ++seq,
    at: clock.now(),
  });
  bus.publish(subjects.leaseReceipt(id), r);
  return r;
}

/** How many transactions the container has sent. */
function hostNonce(): number {
  return chain.ledger.account(host.address).nonce;
}

/** the pid the host-process runtime wrote down for a lease's process group */
function readPid(id: string): number {
  return Number(readFileSync(path.join(baseDir, `.${id}.pid`), 'utf8'));
}

function lease(id: string): Lease {
  return chain.ledger.lease(id)!;
}

function stdout(id: string): string {
  return (output.get(id) ?? []).map((e) => (e.type === 'stdout' ? e.data : '')).join('');
}

function exitOf(id: string) {
  return output.get(id)?.find((e) => e.type === 'exit');
}

async function startOnline(
  key: KeyPair = host,
  name = 'test-host',
  finalReceiptWaitMs?: number,
): Promise<ContainerAgent> {
  const a = newAgent(key, name, finalReceiptWaitMs);
  await a.start();
  await voteOnline(a.id);
  return a;
}

describe('ContainerAgent', () => {
  it('start() registers the container and auto-stakes what the network requires', async () => {
    const a = newAgent();
    expect(a.id).toBe(host.address);
    await a.start();
    const need = chain.ledger.requiredStakeOf({ spec });
    const c = chain.ledger.container(host.address)!;
    expect(c).toMatchObject({
      id: host.address,
      name: 'test-host',
      spec,
      location,
      pricePerHour: PRICE,
      stake: need,
      status: 'pending',
      gpusTotal: GPUS,
    });
    expect(chain.ledger.account(host.address).balance).toBe(ath(5000) - need);
    expect(chain.ledger.account(host.address).nonce).toBe(2);
  });

  it('its GPUs take capacity sessions from the ledger’s checkers only: a start unsigned or signed by a stranger is refused, and the operator’s log says so', async () => {
    const a = newAgent();
    await a.start();
    const stranger = keyPairFromSeed('agent-test:stranger');
    const start = (k: KeyPair, session: string) =>
      bus.request(subjects.check(a.id), {
        op: 'capacity',
        checker: k.address,
        session,
        message: { type: 'start' },
        auth: signCapacityStart(k, { container: a.id, checker: k.address, session, at: clock.now() }),
      });
    expect(
      await bus.request(subjects.check(a.id), {
        op: 'capacity',
        checker: checkerKeys[0]!.address,
        session: 'unsigned',
        message: { type: 'start' },
      }),
    ).toEqual({ closed: 'refused: the start is not signed', started: false });
    expect(await start(stranger, 'stranger')).toEqual({
      closed: `refused: ${stranger.address.slice(0, 16)} is not a checker of the ledger`,
      started: false,
    });
    expect(
      agentLog.filter((l) => /^capacity session (unsigned|stranger) of ath\w+: refused \(/.test(l)),
    ).toHaveLength(2);
    const ok = await start(checkerKeys[0]!, 'checker');
    expect(ok).toMatchObject({ message: { type: 'ready', prover: 'cpu' } });
    await bus.request(subjects.check(a.id), {
      op: 'capacity',
      checker: checkerKeys[0]!.address,
      session: 'checker',
      message: { type: 'end' },
    });
  });

  it('start() is idempotent, and a restart does not stake again', async () => {
    const a = newAgent();
    await a.start();
    await a.start();
    expect(chain.ledger.account(host.address).nonce).toBe(2);
    await a.stop();
    const balance = chain.ledger.account(host.address).balance;
    const again = newAgent();
    await again.start();
    expect(chain.ledger.account(host.address).balance).toBe(balance);
    expect(chain.ledger.container(host.address)!.stake).toBe(chain.ledger.requiredStakeOf({ spec }));
  });

  it('a restart with a new price re-registers but keeps the stake', async () => {
    await newAgent().start();
    await agents[0]!.stop();
    const a = new ContainerAgent(
      { network, bus, runtime, clock },
      {
        key: host,
        name: 'test-host',
        spec,
        location,
        pricePerHour: ath(2),
        heartbeatIntervalMs: HEARTBEAT_MS,
        stakeAuto: true,
      },
    );
    agents.push(a);
    await a.start();
    const c = chain.ledger.container(host.address)!;
    expect(c.pricePerHour).toBe(ath(2));
    expect(c.stake).toBe(chain.ledger.requiredStakeOf({ spec }));
    expect(chain.ledger.account(host.address).nonce).toBe(3);
  });

  it('heartbeats on hb.<id> at once and then every heartbeatIntervalMs, until stopped', async () => {
    const a = newAgent();
    await a.start();
    const mine = () => heartbeats.filter((h) => h.container === a.id);
    const { load, sig, ...rest } = mine()[0]!;
    // signed by the host: receivers take no other heartbeat
    expect(signedByContainer('heartbeat', 'agent-test', mine()[0])).toBe(true);
    expect(sig).toMatch(/^[0-9a-f]{64}\.[0-9a-f]{128}$/);
    expect(rest).toEqual({
      container: a.id,
      at: clock.now(),
      freeGpus: GPUS,
      runningLeases: 0,
      runtime: 'host-process',
    });
    // the host's load average per core, rounded
    expect(load).toBeGreaterThanOrEqual(0);
    expect(Number(load!.toFixed(2))).toBe(load);
    await waitFor('three heartbeats', () => mine().length >= 3);
    await a.stop();
    const n = mine().length;
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 4));
    expect(mine().length).toBe(n);
  });

  it('runs the workload of a lease opened on it, streams its output and closes the lease with its exit code', async () => {
    const a = await startOnline();
    const script =
      'console.log("gpus=" + process.env.CUDA_VISIBLE_DEVICES + " greeting=" + process.env.GREETING);' +
      'console.error("warn"); process.exit(3)';
    const id = await openLease(a.id, [], {
      workload: { command: [NODE, '-e', script], env: { GREETING: 'hi' } },
    });
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ exitCode: 3, closedBy: a.id, closeReason: 'workload exited' });
    await waitFor('the exit event', () => exitOf(id));
    expect(stdout(id)).toBe('gpus=0 greeting=hi\n');
    const events = output.get(id)!;
    expect(events.filter((e) => e.type === 'stderr').map((e) => (e.type === 'stderr' ? e.data : ''))).toEqual(
      ['warn\n'],
    );
    expect(events.at(-1)).toMatchObject({ lease: id, type: 'exit', exitCode: 3, reason: 'exited' });
    expect(a.leasesRunning()).toEqual([]);
    expect(chain.ledger.container(a.id)).toMatchObject({ gpusLeased: 0, openLeases: 0 });
  });

  it("hands a lease's workload the endpoint's public address, where players reach its UDP port", async () => {
    const proxy = new EndpointProxy({ host: '127.0.0.1', publicUrl: 'http://203.0.113.7:8443' });
    await proxy.start();
    try {
      const specs: WorkloadSpec[] = [];
      const spy: Runtime = Object.assign(Object.create(runtime) as Runtime, {
        start: (s: WorkloadSpec) => {
          specs.push(s);
          return runtime.start(s);
        },
      });
      const a = newAgent(host, 'test-host', 100, undefined, { runtime: spy, endpoints: proxy });
      await a.start();
      await voteOnline(a.id);
      const id = await openLease(a.id, [NODE, '-e', 'console.log(process.env.AETHIR_UDP_HOST ?? "none")']);
      await waitFor('the lease to close', () => lease(id).status === 'closed');
      expect(specs).toHaveLength(1);
      expect(specs[0]).toMatchObject({ port: expect.any(Number), publicAddress: '203.0.113.7' });
      // unsandboxed, a lease has no UDP port of its own: nothing is named to it
      expect(stdout(id)).toBe('none\n');
    } finally {
      await proxy.stop();
    }
  });

  it("registers its encKey and opens a lease's sealed env for the workload only: the ledger holds the box", async () => {
    const a = await startOnline();
    const encKey = await encKeyOf(host);
    expect(chain.ledger.container(a.id)!.encKey).toBe(encKey);
    const sealedEnv = await sealEnv({ GREETING: 'sealed hi' }, encKey, {
      chainId: 'agent-test',
      user: user.address,
      container: a.id,
    });
    const id = await openLease(a.id, [], {
      workload: { command: [NODE, '-e', 'console.log(process.env.GREETING)'], sealedEnv },
    });
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(stdout(id)).toBe('sealed hi\n');
    expect(lease(id).workload).toEqual({
      command: [NODE, '-e', 'console.log(process.env.GREETING)'],
      sealedEnv,
    });
  });

  it('charges the lease for the block time it ran and refunds the rest to the escrow balance', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    const before = chain.ledger.account(user.address).escrow;
    clock.advance(30 * 60_000); // half an hour of block time
    await userSender.send('lease.close', { lease: id });
    const l = lease(id);
    expect(l.charged).toBe(PRICE / 2n);
    expect(chain.ledger.account(user.address).escrow).toBe(before + l.escrow - l.charged);
    // the host's 80% vests; nothing reached its balance yet
    const vesting = chain.ledger.vesting(a.id);
    expect(vesting.reduce((s, e) => s + e.amount, 0n)).toBe((l.charged * 8000n) / 10_000n);
  });

  it('reports a busy GPU in its heartbeats while a workload runs', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    await waitFor('a heartbeat with the lease running', () =>
      heartbeats.find((h) => h.container === a.id && h.runningLeases === 1),
    );
    expect(heartbeats.find((h) => h.container === a.id && h.runningLeases === 1)!.freeGpus).toBe(GPUS - 1);
    expect(a.leasesRunning()).toEqual([id]);
    await userSender.send('lease.close', { lease: id });
    await waitFor('a heartbeat after the workload ended', () =>
      heartbeats.findLast((h) => h.container === a.id && h.runningLeases === 0 && h.freeGpus === GPUS),
    );
  });

  it('gives concurrent leases distinct GPUs', async () => {
    const a = await startOnline();
    const cmd = [
      NODE,
      '-e',
      'console.log("gpu=" + process.env.CUDA_VISIBLE_DEVICES); setInterval(() => {}, 1000)',
    ];
    const first = await openLease(a.id, cmd);
    await waitFor('the first workload to start', () => stdout(first).includes('gpu='));
    const second = await openLease(a.id, cmd);
    await waitFor('the second workload to start', () => stdout(second).includes('gpu='));
    expect(new Set([stdout(first), stdout(second)])).toEqual(new Set(['gpu=0\n', 'gpu=1\n']));
    expect(new Set(a.leasesRunning())).toEqual(new Set([first, second]));
  });

  it('gives leases opened back to back (before either workload started) distinct GPUs', async () => {
    const a = await startOnline();
    const cmd = [
      NODE,
      '-e',
      'console.log("gpu=" + process.env.CUDA_VISIBLE_DEVICES); setInterval(() => {}, 1000)',
    ];
    const [first, second] = await Promise.all([openLease(a.id, cmd), openLease(a.id, cmd)]);
    await waitFor(
      'both workloads to start',
      () => stdout(first!).includes('gpu=') && stdout(second!).includes('gpu='),
    );
    expect(new Set([stdout(first!), stdout(second!)])).toEqual(new Set(['gpu=0\n', 'gpu=1\n']));
  });

  it('kills a workload whose lease was closed while it was still starting', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    // closed in the same tick as the open: the runtime has not started the process yet
    await userSender.send('lease.close', { lease: id });
    const exit = await waitFor('the workload to be stopped', () => exitOf(id));
    expect(exit.type).toBe('exit');
    await waitFor('the agent to forget the lease', () => a.leasesRunning().length === 0);
    expect(lease(id)).toMatchObject({ status: 'closed', closedBy: user.address });
  });

  it('closes the lease (and publishes an exit) when the runtime refuses the workload', async () => {
    const a = await startOnline();
    // accepted by the ledger, refused by the runtime (argv with a NUL byte)
    const id = await openLease(a.id, [NODE, 'a\u0000b']);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ closedBy: a.id, exitCode: 127 });
    expect(lease(id).closeReason).toMatch(/^workload failed to start: /);
    expect(exitOf(id)).toMatchObject({ type: 'exit', reason: 'start-failed' });
    expect(a.leasesRunning()).toEqual([]);
  });

  it('refuses a lease with its own port when it runs leases without a sandbox: closed at once, charged nothing', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [], {
      workload: { command: [NODE, '-e', 'setTimeout(()=>{},60000)'], port: 22 },
    });
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ closedBy: a.id, exitCode: 127, charged: 0n });
    expect(lease(id).closeReason).toMatch(/without a sandbox: it cannot give a lease its own port/);
    expect(exitOf(id)).toMatchObject({ type: 'exit', reason: 'start-failed' });
    expect(a.leasesRunning()).toEqual([]);
  });

  it("serves a lease's kept log (logs.<id>) to its user's token only, page by page", async () => {
    const logDir = path.join(baseDir, 'logs');
    const a = newAgent(host, 'test-host', 100, logDir);
    await a.start();
    await voteOnline(a.id);
    const id = await openLease(a.id, [
      NODE,
      '-e',
      'console.log("kept-1"); console.error("kept-2"); process.exit(4)',
    ]);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    const token = (k: KeyPair, opts: { lease?: string; scope?: ('logs' | 'exec')[] } = {}) =>
      signLeaseToken(k, {
        chainId: 'agent-test',
        lease: opts.lease ?? id,
        exp: clock.now() + 60_000,
        scope: opts.scope ?? ['logs'],
      });
    const ask = (req: Record<string, unknown>) =>
      bus.request(subjects.logs(a.id), { lease: id, offset: 0, ...req });
    const page = (await ask({ token: token(user) })) as { events: unknown[]; next: number; size: number };
    expect(page.events).toEqual([
      { type: 'stdout', data: 'kept-1\n', at: expect.any(Number) },
      { type: 'stderr', data: 'kept-2\n', at: expect.any(Number) },
      expect.objectContaining({ type: 'exit', exitCode: 4, reason: 'exited' }),
    ]);
    expect(page.next).toBe(page.size);
    // from the end: nothing more
    expect(await ask({ token: token(user), offset: page.size + 1000 })).toEqual({
      events: [],
      next: page.size,
      size: page.size,
    });
    // attacks: a stranger's token, the user's token for another lease, one without the logs scope, garbage
    const other = keyPairFromSeed('agent-test:stranger');
    for (const [t, why] of [
      [token(other), "not signed by the lease's user"],
      [token(user, { lease: 'L0000' }), 'is for lease L0000'],
      [token(user, { scope: ['exec'] }), 'does not grant logs'],
      ['aethir-lease.e30.' + '0'.repeat(128), 'malformed lease token'],
    ] as const)
      await expect(ask({ token: t })).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
        message: expect.stringContaining(why),
      });
    // a lease that did not run here (none by that id), even with a token for it
    await expect(ask({ lease: 'L0000', token: token(user, { lease: 'L0000' }) })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // what the wire refuses before the agent sees it
    for (const bad of [
      { lease: id, token: token(user), offset: -1 },
      { lease: id, token: token(user), offset: 0, extra: 1 },
      { lease: 'a.b', token: token(user), offset: 0 },
      { lease: id, offset: 0 },
    ])
      expect(checkMessage(subjects.logs(a.id), bad).ok).toBe(false);
  });

  it('does not register again on restart when nothing changed', async () => {
    const a = await startOnline();
    const nonce = chain.ledger.account(a.id).nonce;
    await a.stop();
    const again = newAgent();
    await again.start();
    expect(chain.ledger.account(a.id).nonce).toBe(nonce);
  });

  it('kills the workload when the user closes the lease first', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    await userSender.send('lease.close', { lease: id });
    const exit = await waitFor('the workload to be killed', () => exitOf(id));
    expect(exit).toMatchObject({ type: 'exit', reason: 'killed' });
    await waitFor('the agent to forget the lease', () => a.leasesRunning().length === 0);
    // The user's close stands: the agent does not close it again.
    expect(lease(id)).toMatchObject({ status: 'closed', closedBy: user.address, exitCode: null });
    expect(agentLog).toEqual([]);
  });

  it('stops a workload that fills its disk quota, says so, and frees its GPU', async () => {
    const a = newAgent();
    Object.assign(a.init, { diskQuotaMiB: 2 });
    await a.start();
    await voteOnline(a.id);
    const fill = "require('fs').writeFileSync('blob', Buffer.alloc(8 << 20)); setInterval(() => {}, 1000)";
    const id = await openLease(a.id, [NODE, '-e', fill]);
    await waitFor('the lease to close', () => lease(id).status === 'closed', 20_000);
    expect(lease(id).closeReason).toBe(
      'the workload was stopped at a limit: disk quota of 2 MiB exceeded in its working directory',
    );
    expect(exitOf(id)).toMatchObject({ reason: 'timeout', limit: 'diskMiB' });
    expect(a.leasesRunning()).toEqual([]);
    expect(chain.ledger.container(a.id)!.gpusLeased).toBe(0);
  });

  it('closes the lease of a workload killed by SIGKILL, with the signal in its exit', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, ['sh', '-c', 'echo up; kill -9 $$']);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(exitOf(id)).toMatchObject({
      reason: 'exited',
      signal: 'SIGKILL',
      message: 'terminated by SIGKILL',
    });
    expect(lease(id).closeReason).toBe('workload exited');
    expect(a.leasesRunning()).toEqual([]);
    expect(chain.ledger.container(a.id)!.gpusLeased).toBe(0);
  });

  it('ignores a forged preemption notice: the workload goes on, nothing is closed', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)'], {
      interruptible: true,
      bidPerHour: PRICE / 2n,
    });
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    // anyone on the bus can publish this; the ledger shows no preemption
    bus.publish(subjects.leasePreempted(a.id), { lease: id, stopAt: clock.now() });
    await waitFor('the agent to say it ignored it', () =>
      agentLog.some((l) => l.includes(`ignored a preemption notice for lease ${id}`)),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(exitOf(id)).toBeUndefined();
    expect(lease(id).status).toBe('open');
    await userSender.send('lease.close', { lease: id });
    await waitFor('the workload to be killed', () => exitOf(id));
  });

  it('closes the lease when the workload runs out of lease time', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'setInterval(() => {}, 1000)'], { maxDurationSec: 1 });
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ closedBy: a.id, closeReason: 'lease time ran out', exitCode: -1 });
    expect(exitOf(id)).toMatchObject({ reason: 'timeout' });
  });

  it('closes the lease when the workload cannot start', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, ['aethir-no-such-command-xyz']);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ closedBy: a.id, exitCode: 127 });
    expect(lease(id).closeReason).toMatch(/^workload failed to start: /);
  });

  it('closes leases left open from before a restart', async () => {
    const a = await startOnline();
    await a.stop();
    // Opened while no agent is listening: nobody runs its workload.
    const id = await openLease(a.id, [NODE, '-e', '']);
    expect(lease(id).status).toBe('open');
    const restarted = newAgent();
    await restarted.start();
    expect(lease(id)).toMatchObject({
      status: 'closed',
      closedBy: a.id,
      exitCode: -1,
      closeReason: 'container restarted; workload lost',
    });
    expect(restarted.leasesRunning()).toEqual([]);
  });

  it('ignores lease events meant for another container', async () => {
    const a = await startOnline();
    const b = await startOnline(host2, 'other-host');
    const id = await openLease(b.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    expect(a.leasesRunning()).toEqual([]);
    expect(b.leasesRunning()).toEqual([id]);
    // A stray opened message for b's lease on a's subject is not run by a.
    bus.publish(subjects.leaseOpened(a.id), { lease: lease(id) });
    expect(a.leasesRunning()).toEqual([]);
  });

  it('stop() kills only its own workloads and closes their leases', async () => {
    const a = await startOnline();
    const b = await startOnline(host2, 'other-host');
    const tick = 'console.log("ready"); setInterval(() => console.log("tick"), 20)';
    const mineId = await openLease(a.id, [NODE, '-e', tick]);
    const theirsId = await openLease(b.id, [NODE, '-e', tick]);
    await waitFor(
      'both workloads to start',
      () => stdout(mineId).includes('ready') && stdout(theirsId).includes('ready'),
    );
    await a.stop();
    expect(await waitFor('the exit event', () => exitOf(mineId))).toMatchObject({ reason: 'killed' });
    expect(lease(mineId)).toMatchObject({
      status: 'closed',
      closedBy: a.id,
      closeReason: 'workload stopped',
    });
    expect(a.leasesRunning()).toEqual([]);
    // b's workload keeps running and writing.
    expect(exitOf(theirsId)).toBeUndefined();
    expect(lease(theirsId).status).toBe('open');
    expect(b.leasesRunning()).toEqual([theirsId]);
    const ticks = stdout(theirsId).length;
    await waitFor('more output from the other workload', () => stdout(theirsId).length > ticks);
  });
});

describe('ContainerAgent: usage receipts', () => {
  const MIN = 60_000;
  const LONG = [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)'];
  /** a 1-GPU lease at 1 ATH/h: the price of `ms` of it */
  const price = (ms: number) => (PRICE * BigInt(ms)) / 3_600_000n;

  it('after a crash, ends the workloads the dead agent left running and charges only what was signed', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    clock.advance(10 * MIN);
    sendReceipt(id, 4 * MIN);
    await a.settleRunning();
    expect(lease(id).charged).toBe(price(4 * MIN));
    const pid = readPid(id);
    // The agent dies without stopping anything: its workload goes on, owned by nobody.
    a.partition();
    clock.advance(20 * MIN);
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(pid)).toBe(true);
    // Restarted on the same machine: a fresh runtime over the same directory.
    const restarted = new ContainerAgent(
      {
        network,
        bus,
        runtime: new HostProcessRuntime({ baseDir, now: () => clock.now(), killGraceMs: 1000 }),
        clock,
      },
      { ...a.init },
    );
    agents.push(restarted);
    await restarted.start();
    await waitFor('the orphaned workload to be gone', () => !alive(pid));
    // Closed as lost; the 20 minutes nobody served (and nobody signed for) are not charged.
    expect(lease(id)).toMatchObject({
      status: 'closed',
      closeReason: 'container restarted; workload lost',
      charged: price(4 * MIN),
    });
  });

  it('settles with the latest receipt of the user, and sends nothing without a new one', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, LONG);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    clock.advance(30 * MIN);
    const before = hostNonce();
    await a.settleRunning();
    expect(hostNonce()).toBe(before); // no receipt yet: nothing to charge for
    sendReceipt(id, 5 * MIN);
    sendReceipt(id, 10 * MIN);
    await a.settleRunning();
    expect(lease(id)).toMatchObject({
      charged: price(10 * MIN),
      lastReceiptSeq: seq,
      receiptServedMs: 10 * MIN,
    });
    await a.settleRunning();
    expect(hostNonce()).toBe(before + 1); // the same receipt is not sent twice
    expect(agentLog).toEqual([]);
  });

  it("ignores receipts that are not the user's, for another lease, or older than the one it holds", async () => {
    const a = await startOnline();
    const id = await openLease(a.id, LONG);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    clock.advance(30 * MIN);
    sendReceipt(id, 20 * MIN, { key: host2 }); // forged: not the user's key
    sendReceipt(id, 20 * MIN, { lease: 'Lelsewhere' }); // the user's, for another lease
    await a.settleRunning();
    expect(lease(id).charged).toBe(0n);
    expect(agentLog.filter((l) => /receipt ignored/.test(l))).toHaveLength(1);
    sendReceipt(id, 8 * MIN, { seq: 100 });
    sendReceipt(id, 9 * MIN, { seq: 99 }); // older than the one held
    await a.settleRunning();
    expect(lease(id)).toMatchObject({ charged: price(8 * MIN), lastReceiptSeq: 100 });
  });

  it('closes with the latest receipt when the workload exits: charged what the user signed', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, [NODE, '-e', 'console.log("ready"); setTimeout(() => {}, 1500)']);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    clock.advance(30 * MIN);
    sendReceipt(id, 3 * MIN);
    await a.settleRunning();
    sendReceipt(id, 12 * MIN);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({
      closedBy: a.id,
      closeReason: 'workload exited',
      exitCode: 0,
      charged: price(12 * MIN),
      receiptServedMs: 12 * MIN,
    });
  });

  it("waits for the user's final receipt after the exit, so a short workload is paid", async () => {
    const a = await startOnline(host, 'test-host', 30_000);
    const id = await openLease(a.id, [NODE, '-e', 'console.log("done")']);
    clock.advance(MIN);
    // the client signs its last receipt when it sees the exit
    await waitFor('the exit event', () => exitOf(id));
    expect(lease(id).status).toBe('open');
    sendReceipt(id, 40_000);
    await waitFor('the lease to close', () => lease(id).status === 'closed', 10_000);
    expect(lease(id)).toMatchObject({
      closedBy: a.id,
      charged: price(40_000),
      closeReason: 'workload exited',
    });
  });

  it('ends a lease whose user stopped signing receipts for params.receiptGraceMs', async () => {
    const grace = chain.ledger.params.receiptGraceMs;
    const a = await startOnline();
    const id = await openLease(a.id, LONG);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    clock.advance(MIN);
    sendReceipt(id, MIN);
    // within the grace period since the last receipt: it keeps running
    clock.advance(grace - 1);
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 4));
    expect(a.leasesRunning()).toEqual([id]);
    clock.advance(2);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({
      closedBy: a.id,
      closeReason: 'the user stopped signing receipts',
      charged: price(MIN),
    });
    expect(exitOf(id)).toMatchObject({ reason: 'killed' });
  });

  it('a receipt acknowledging time ahead (a detached lease) is settled at once and pays until the time it covers, plus the grace', async () => {
    const grace = chain.ledger.params.receiptGraceMs;
    const a = await startOnline();
    const id = await openLease(a.id, LONG);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    const before = hostNonce();
    sendReceipt(id, 40 * MIN);
    // on the ledger at once, without waiting for the settle loop; nothing is charged yet (no time ran)
    await waitFor('the authorization to be settled', () => lease(id).lastReceiptSeq === seq);
    expect(hostNonce()).toBe(before + 1);
    expect(lease(id)).toMatchObject({ receiptServedMs: 40 * MIN, charged: 0n });
    // no more receipts, yet it runs through the time covered and the grace after it
    clock.advance(40 * MIN + grace - 1);
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 4));
    expect(a.leasesRunning()).toEqual([id]);
    clock.advance(2);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    // charged the time covered, never past it
    expect(lease(id)).toMatchObject({
      closeReason: 'the user stopped signing receipts',
      charged: price(40 * MIN),
    });
    expect(agentLog.filter((l) => /settling/.test(l))).toEqual([]);
  });

  it('ends a lease whose user never signed a receipt, charging nothing', async () => {
    const a = await startOnline();
    const id = await openLease(a.id, LONG);
    await waitFor('the workload to start', () => stdout(id).includes('ready'));
    clock.advance(chain.ledger.params.receiptGraceMs + 1);
    await waitFor('the lease to close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ closeReason: 'the user stopped signing receipts', charged: 0n });
    expect(chain.ledger.account(user.address).escrow).toBeGreaterThan(0n);
  });
});

describe('ContainerAgent: leases whose deposit runs out', () => {
  const GRACE = 60_000;
  beforeEach(() => {
    // the same network, pausing: params.pauseGraceMs set at genesis
    chain.close();
    chain = Chain.open(new SqliteChainStore(':memory:'), clock, () =>
      parseGenesis({
        chainId: 'agent-test',
        time: clock.now(),
        allocations: [
          { address: host.address, amount: ath(5000).toString() },
          { address: user.address, amount: ath(100_000).toString() },
        ],
        checkers: checkerKeys.map((k) => k.address),
        params: { pauseGraceMs: GRACE },
      }),
    );
    network = new InProcessNetwork(chain);
    userSender = new TxSender(user, network);
    chain.onBlock((e) => fanOutBlock(e, chain.ledger, { bus }));
  });

  const script =
    'if [ -f kept ]; then echo "again with $(cat kept)"; else echo one > kept; echo first; fi; sleep 60';

  it('pauses it (workload stopped, files kept, no exit), restarts it in them on a top-up, closes it after the grace', async () => {
    await startOnline();
    const id = await openLease(host.address, ['sh', '-c', script], { depositSec: 2 });
    await waitFor('the first run', () => stdout(id).includes('first'));
    sendReceipt(id, 3_600_000); // paid ahead, as a detached lease is
    clock.advance(2_500);
    await waitFor('the pause', () => lease(id).status === 'paused');
    expect(lease(id)).toMatchObject({ charged: lease(id).escrow, pausedAt: lease(id).openedAt + 2_000 });
    await waitFor('the notice', () =>
      output.get(id)?.some((e) => e.type === 'stderr' && /lease paused/.test(e.data)),
    );
    expect(exitOf(id)).toBeUndefined();
    expect(readFileSync(path.join(baseDir, id, 'kept'), 'utf8')).toBe('one\n');
    clock.advance(5_000);
    const r = await userSender.send('lease.topup', { lease: id, amount: ath(1) / 1000n });
    expect(r.result.resumed).toBe(true);
    await waitFor('the restart', () => stdout(id).includes('again with one'));
    expect(lease(id)).toMatchObject({ status: 'open', pausedMs: 5_500 });
    // runs out again (1/1000 ATH is 3.6 s at 1 ATH/h): paused, then closed at the grace's end
    sendReceipt(id, 3_600_000 + 10_000);
    clock.advance(4_000);
    await waitFor('the second pause', () => lease(id).status === 'paused');
    clock.advance(GRACE + 1_000);
    await waitFor('the close', () => lease(id).status === 'closed');
    expect(lease(id).closeReason).toBe('paused past its grace period: its files were removed');
    await waitFor('the files to go', () => !existsSync(path.join(baseDir, id)));
    expect(exitOf(id)).toMatchObject({ message: 'paused past its grace period: its files were removed' });
  });

  it('a runtime that keeps no files ends the lease instead', async () => {
    const plain = runtime;
    runtime = {
      name: 'plain',
      start: (s: Parameters<HostProcessRuntime['start']>[0]) => plain.start(s),
      stopAll: () => plain.stopAll(),
    } as unknown as HostProcessRuntime;
    await startOnline();
    const id = await openLease(host.address, ['sh', '-c', script], { depositSec: 1 });
    await waitFor('the first run', () => stdout(id).includes('first'));
    sendReceipt(id, 3_600_000);
    clock.advance(1_500);
    await waitFor('the close', () => lease(id).status === 'closed');
    expect(lease(id)).toMatchObject({ closeReason: 'its escrow ran out' });
    expect(lease(id).charged).toBe(lease(id).escrow);
    runtime = plain;
  });
});
