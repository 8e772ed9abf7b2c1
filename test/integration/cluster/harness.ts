/**
 * A scale-out Aethir network made of real OS processes, for integration tests: a private
 * nats-server (JetStream on file storage) per test file, a TCP proxy between every node and
 * NATS (a test cuts a node off for real by closing its proxy), and `aethir node` processes
 * started through bin/aethir.js exactly as an operator would.
 *
 * Everything a test starts is killed in `Cluster.destroy()`: nodes and rents by process group,
 * and workloads (which the host-process runtime puts in their own sessions) by their working
 * directory, which lies under the cluster's temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import type { KeyPair } from '../../../src/core/index.js';
import { signTx, type TxType } from '../../../src/ledger/index.js';
import { Keystore } from '../../../src/node/keystore.js';
import { JetStreamLog, SqliteChainStore } from '../../../src/store/index.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin/aethir.js');
export const NATS_SERVER = process.env.AETHIR_NATS_SERVER ?? '/usr/sbin/nats-server';
export const PG_URL = process.env.AETHIR_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** 1 ATH in units. */
export const ATH = 10n ** 18n;

/** Cadences that let a test see a container go offline within seconds. */
export const FAST_ENV = {
  AETHIR_HEARTBEAT_MS: '500',
  AETHIR_OFFLINE_AFTER_MS: '2500',
  AETHIR_CHECK_INTERVAL_MS: '500',
  AETHIR_SETTLE_MS: '2000',
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  opts: { timeoutMs?: number; what?: string; intervalMs?: number; last?: () => unknown } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const last = opts.last ? `\nlast seen: ${JSON.stringify(opts.last())}` : '';
      const err = lastError ? `\nlast error: ${(lastError as Error).message}` : '';
      throw new Error(`timed out waiting for ${opts.what ?? 'a condition'}${last}${err}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Sends a signal to a whole process group; false when there is none (left). */
function killGroup(pid: number | undefined, signal: NodeJS.Signals | 0 = 'SIGKILL'): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pid: number | undefined): boolean {
  return killGroup(pid, 0);
}

/** Keeps the last `max` characters of a stream (and all of it in `file`, when given). */
class Tail {
  private text = '';
  constructor(
    private readonly max = 256_000,
    private readonly file?: string,
  ) {}
  push(s: string): void {
    if (this.file) appendFileSync(this.file, s);
    this.text += s;
    if (this.text.length > this.max) this.text = this.text.slice(-this.max);
  }
  get value(): string {
    return this.text;
  }
}

/** Environment for a child: this process's, minus every AETHIR_* setting, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AETHIR_')) env[k] = v;
  return { ...env, ...extra };
}

// ─── NATS ────────────────────────────────────────────────────────────────────────────────────

/** A nats-server with JetStream of our own: killed and restarted on the same port and storage. */
export class NatsServer {
  private child: ChildProcess | null = null;
  private readonly out: Tail;
  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {
    this.out = new Tail(64_000, `${storeDir}.log`);
  }

  static async start(storeDir: string): Promise<NatsServer> {
    const s = new NatsServer(await freePort(), storeDir);
    await s.start();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get log(): string {
    return this.out.value;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error('nats-server is running already');
    const child = spawn(
      NATS_SERVER,
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout!.on('data', (d) => this.out.push(String(d)));
    child.stderr!.on('data', (d) => this.out.push(String(d)));
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    // Up: it accepts a client and answers a JetStream request.
    await waitFor(
      async () => {
        if (!this.child) throw new Error(`nats-server exited:\n${this.out.value}`);
        const nc = await connect({ servers: this.url, reconnect: false, timeout: 1000 });
        try {
          await (await nc.jetstreamManager()).getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      { timeoutMs: 20_000, what: `nats-server on ${this.port}`, intervalMs: 100 },
    );
  }

  /** kill -9, and wait until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    killGroup(child.pid);
    await exited;
    this.child = null;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}

/**
 * A TCP proxy between one node and NATS. `cut()` closes every connection through it and refuses
 * new ones (the node sees its server vanish); `restore()` lets it reconnect.
 */
export class NatsProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private isCut = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<NatsProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const p = new NatsProxy(server, typeof addr === 'object' && addr ? addr.port : 0, targetPort);
    server.on('connection', (c) => p.accept(c));
    return p;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  get cutOff(): boolean {
    return this.isCut;
  }

  private accept(client: Socket): void {
    if (this.isCut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  cut(): void {
    this.isCut = true;
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

// ─── HTTP ────────────────────────────────────────────────────────────────────────────────────

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: { code?: string; message?: string } } | undefined,
    url: string,
  ) {
    super(`${url} answered ${status}: ${JSON.stringify(body)}`);
  }
  get code(): string | undefined {
    return this.body?.error?.code;
  }
}

export async function getJson<T = any>(url: string, timeoutMs = 5000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new HttpError(res.status, body, url);
  return body as T;
}

export async function postJson<T = any>(url: string, data: unknown, timeoutMs = 40_000): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new HttpError(res.status, body, url);
  return body as T;
}

export interface NodeStatus {
  chainId: string;
  roles: string;
  height: number;
  root: string;
  blockHash: string;
  containers: { total: number; online: number };
  leases: { open: number; total: number };
}

export interface AccountView {
  address: string;
  balance: string;
  escrow: string;
  nonce: number;
}

export interface LeaseView {
  id: string;
  user: string;
  container: string;
  gpus: number;
  escrow: string;
  charged: string;
  status: 'open' | 'closed';
  openedAt: number;
  closedAt: number | null;
  closeReason: string | null;
  closedBy: string | null;
  exitCode: number | null;
}

// ─── nodes ───────────────────────────────────────────────────────────────────────────────────

export interface NodeSpec {
  name: string;
  roles: Array<'api' | 'indexer' | 'checker' | 'container'>;
  location?: string;
  declareGpus?: string;
  /** checker role: the checks it runs (--checks) */
  checks?: string;
  /** checker role: real probes or the SIMULATED model (default model: every node is on loopback) */
  locationNetwork?: 'probe' | 'model';
  postgres?: string;
  snapshotFrom?: string;
  env?: Record<string, string>;
  /** more arguments for `aethir node` */
  args?: string[];
}

export interface ReadyInfo {
  name: string;
  roles: string[];
  chainId: string;
  height: number;
  root: string;
  address: string | null;
  api: string | null;
  pid: number;
}

/** One `aethir node` process; `start()` again after `kill()` reuses its data directory. */
export class NodeProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  readonly stderr: Tail;
  ready: ReadyInfo | null = null;
  starts = 0;

  constructor(
    readonly cluster: Cluster,
    readonly spec: NodeSpec,
    readonly dataDir: string,
    readonly proxy: NatsProxy,
  ) {
    this.stderr = new Tail(256_000, join(cluster.dir, `${spec.name}.stderr.log`));
  }

  get name(): string {
    return this.spec.name;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== null;
  }
  /** This node's API, when it has the api role. */
  get api(): string {
    if (!this.ready?.api)
      throw new Error(`node ${this.name} has no API (roles ${this.spec.roles.join(',')})`);
    return this.ready.api;
  }
  get address(): string {
    if (!this.ready?.address) throw new Error(`node ${this.name} has no key`);
    return this.ready.address;
  }

  async start(timeoutMs = 90_000): Promise<ReadyInfo> {
    if (this.child) throw new Error(`node ${this.name} is running already`);
    const s = this.spec;
    const args = [
      BIN,
      'node',
      '--roles',
      s.roles.join(','),
      '--nats',
      this.proxy.url,
      '--name',
      s.name,
      '--data',
      this.dataDir,
      '--json',
      ...(s.roles.includes('api') ? ['--port', '0'] : []),
      ...(s.location ? ['--location', s.location] : []),
      ...(s.declareGpus ? ['--declare-gpus', s.declareGpus] : []),
      ...(s.checks ? ['--checks', s.checks] : []),
      // every node of this harness shares one machine: real RTTs would all be loopback, so the
      // checkers' location check uses the SIMULATED latency model (docs/verification.md)
      ...(s.roles.includes('checker') ? ['--location-network', s.locationNetwork ?? 'model'] : []),
      ...(s.postgres ? ['--postgres', s.postgres] : []),
      ...(s.snapshotFrom ? ['--snapshot-from', s.snapshotFrom] : []),
      ...(s.args ?? []),
    ];
    this.starts++;
    this.stderr.push(`\n──── start #${this.starts}: aethir ${args.slice(1).join(' ')}\n`);
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: childEnv({
        ...FAST_ENV,
        AETHIR_HOME: this.dataDir,
        AETHIR_CHAIN_ID: this.cluster.chainId,
        ...s.env,
      }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.ready = null;
    this.exited = new Promise((r) =>
      child.once('exit', (code, sig) => {
        this.stderr.push(`\n──── exited (code ${code}, signal ${sig})\n`);
        if (this.child === child) this.child = null;
        r();
      }),
    );
    child.stderr!.on('data', (d) => this.stderr.push(String(d)));
    let out = '';
    return new Promise<ReadyInfo>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`node ${this.name} ${why}\nstderr:\n${this.stderr.value.slice(-6000)}`));
      };
      const timer = setTimeout(() => fail(`was not ready within ${timeoutMs} ms`), timeoutMs);
      child.stdout!.on('data', (d) => {
        out += String(d);
        let parsed: { ready?: ReadyInfo } | undefined;
        try {
          parsed = JSON.parse(out);
        } catch {
          return; // not the whole object yet
        }
        if (!parsed?.ready) return fail(`printed something else than ready: ${out}`);
        clearTimeout(timer);
        this.ready = parsed.ready;
        resolve(parsed.ready);
      });
      child.once('exit', (code) => fail(`exited with ${code} before it was ready`));
    });
  }

  /** kill -9 of the node's process group; resolves once it has exited. */
  async kill(): Promise<void> {
    if (!this.child) return;
    killGroup(this.child.pid);
    await this.exited;
  }

  async restart(): Promise<ReadyInfo> {
    await this.kill();
    return this.start();
  }

  status(): Promise<NodeStatus> {
    return getJson<NodeStatus>(`${this.api}/v1/status`);
  }

  /** The head of this node's SQLite store, read from its file (the node must be stopped). */
  storedHead(): { height: number; root: string } | undefined {
    if (this.child) throw new Error(`stop ${this.name} before reading its store`);
    const store = new SqliteChainStore(join(this.dataDir, 'replica.sqlite'));
    try {
      const h = store.head();
      return h ? { height: h.height, root: h.root } : undefined;
    } finally {
      store.close();
    }
  }
}

// ─── users and rents ─────────────────────────────────────────────────────────────────────────

export interface User {
  name: string;
  /** AETHIR_HOME of this user: its key is keys/developer.json there */
  home: string;
  key: KeyPair;
}

export interface RentResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** the --json summary rent prints last, when it got that far */
  summary: {
    lease: string;
    container: string;
    status: string;
    exitCode: number;
    charged: string;
    refunded: string;
    failovers: Array<{ lease: string; container: string }>;
  } | null;
  /** the error it printed (--json prints errors on stdout), when it failed */
  error: { code: string; message: string } | null;
}

export interface RentProcess {
  child: ChildProcess;
  result: Promise<RentResult>;
  /** what it printed so far */
  stdout(): string;
  stderr(): string;
}

// ─── the cluster ─────────────────────────────────────────────────────────────────────────────

export interface ClusterOptions {
  prefix: string;
}

export class Cluster {
  readonly dir: string;
  readonly chainId: string;
  readonly nodes = new Map<string, NodeProcess>();
  readonly users = new Map<string, User>();
  private readonly nodeKeys = new Map<string, KeyPair>();
  private readonly proxies: NatsProxy[] = [];
  private readonly rents = new Set<ChildProcess>();
  private logRef: JetStreamLog | null = null;
  nats!: NatsServer;

  private constructor(opts: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `aethir-${opts.prefix}-`));
    this.chainId = `${opts.prefix}-${randomBytes(4).toString('hex')}`;
  }

  /** A fresh directory and a nats-server of its own. */
  static async create(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    c.nats = await NatsServer.start(join(c.dir, 'nats'));
    return c;
  }

  nodeDir(name: string): string {
    return join(this.dir, 'nodes', name);
  }

  /** Makes the signing key of node `name` up front (in <data>/keys/node.json): its address. */
  nodeKey(name: string): string {
    let k = this.nodeKeys.get(name);
    if (!k) {
      k = new Keystore(join(this.nodeDir(name), 'keys')).loadOrCreate('node');
      this.nodeKeys.set(name, k);
    }
    return k.address;
  }

  /** A user with a home of its own and key "developer" there (what `aethir rent` pays with). */
  user(name: string): User {
    let u = this.users.get(name);
    if (!u) {
      const home = join(this.dir, 'users', name);
      const key = new Keystore(join(home, 'keys')).loadOrCreate('developer');
      u = { name, home, key };
      this.users.set(name, u);
    }
    return u;
  }

  /**
   * Writes the genesis (checkers: these nodes' keys; allocations in ATH to users and node keys)
   * and creates the network's log with `aethir network init`.
   */
  async init(g: {
    checkers: string[];
    allocations: Array<{ address: string; ath: bigint }>;
    governance?: string;
  }): Promise<void> {
    const genesis = {
      chainId: this.chainId,
      time: Date.now(),
      allocations: g.allocations.map((a) => ({ address: a.address, amount: (a.ath * ATH).toString() })),
      pools: { rewards: (1_000_000n * ATH).toString(), checkers: (1_000n * ATH).toString() },
      checkers: g.checkers,
      governance: g.governance ?? g.allocations[0]!.address,
    };
    const file = join(this.dir, 'genesis.json');
    writeFileSync(file, JSON.stringify(genesis, null, 2));
    const r = await this.cli(['network', 'init', '--nats', this.nats.url, '--genesis', file, '--json'], {});
    if (r.code !== 0) throw new Error(`network init failed (${r.code}): ${r.stderr}`);
  }

  /** A node process with its own proxy to NATS and data directory; started and ready. */
  async startNode(spec: NodeSpec): Promise<NodeProcess> {
    if (this.nodes.has(spec.name)) throw new Error(`node ${spec.name} exists`);
    const dataDir = this.nodeDir(spec.name);
    mkdirSync(dataDir, { recursive: true });
    const proxy = await NatsProxy.start(this.nats.port);
    this.proxies.push(proxy);
    const n = new NodeProcess(this, spec, dataDir, proxy);
    this.nodes.set(spec.name, n);
    await n.start();
    return n;
  }

  /** Starts several at once (they compile and catch up in parallel). */
  startNodes(specs: NodeSpec[]): Promise<NodeProcess[]> {
    return Promise.all(specs.map((s) => this.startNode(s)));
  }

  node(name: string): NodeProcess {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Every running node that has the api role. */
  apiNodes(): NodeProcess[] {
    return [...this.nodes.values()].filter((n) => n.running && n.spec.roles.includes('api') && n.ready);
  }

  /** A connection of the test's own to the log (straight to NATS, not through a proxy). */
  async log(): Promise<JetStreamLog> {
    this.logRef ??= await JetStreamLog.connect({
      servers: this.nats.url,
      chainId: this.chainId,
      create: false,
      name: 'aethir-test',
    });
    return this.logRef;
  }

  /**
   * kill -9 of the nats-server and a start on the same port and storage. The test's own log
   * connection is closed first (a request made while it reconnects would wait out its timeout).
   */
  async restartNats(): Promise<void> {
    await this.logRef?.close().catch(() => undefined);
    this.logRef = null;
    await this.nats.restart();
  }

  /** The height of the last entry of the log. */
  async logHeight(): Promise<number> {
    return (await (await this.log()).lastSeq()) - 1;
  }

  /**
   * Waits until every given node (default: every running API node) has applied the whole log:
   * all at the log's height with one root. Resolves with that height and root.
   */
  async converged(
    nodes: NodeProcess[] = this.apiNodes(),
    timeoutMs = 60_000,
  ): Promise<{ height: number; root: string }> {
    let last: unknown;
    return waitFor(
      async () => {
        const before = await this.logHeight();
        const ss = await Promise.all(nodes.map((n) => n.status()));
        const after = await this.logHeight();
        last = {
          log: after,
          nodes: ss.map((s, i) => `${nodes[i]!.name}@${s.height}:${s.root.slice(0, 12)}`),
        };
        if (before !== after) return undefined;
        if (!ss.every((s) => s.height === after && s.root === ss[0]!.root)) return undefined;
        return { height: after, root: ss[0]!.root };
      },
      { timeoutMs, what: `${nodes.map((n) => n.name).join(',')} to converge on the log`, last: () => last },
    );
  }

  /** Signs a transaction of `key` with its next nonce (read from `api`) and submits it there. */
  async send(
    api: string,
    key: KeyPair,
    type: TxType,
    payload: Record<string, unknown>,
    nonce?: number,
  ): Promise<{ id: string; height: number; root: string; result: Record<string, unknown> }> {
    const n = nonce ?? (await getJson<AccountView>(`${api}/v1/accounts/${key.address}`)).nonce;
    return postJson(`${api}/v1/transactions`, signTx(key, this.chainId, type, n, payload));
  }

  /** Runs the real CLI once (as a user would) and resolves with its output. */
  cli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<RentResult> {
    return this.spawnCli(args, env, timeoutMs).result;
  }

  /** `aethir rent --json -- <command>` of `user` through `api`, as a child process. */
  rent(
    user: User,
    api: string,
    command: string[],
    opts: { gpus?: number; timeoutMs?: number } = {},
  ): RentProcess {
    return this.spawnCli(
      [
        'rent',
        '--json',
        '--max-duration',
        '10m',
        ...(opts.gpus ? ['--gpus', String(opts.gpus)] : []),
        '--',
        ...command,
      ],
      { AETHIR_HOME: user.home, AETHIR_API: api },
      opts.timeoutMs ?? 90_000,
    );
  }

  private spawnCli(args: string[], env: Record<string, string>, timeoutMs: number): RentProcess {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: childEnv(env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.rents.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const result = new Promise<RentResult>((resolve) => {
      const timer = setTimeout(() => {
        stderr += `\n[harness] aethir ${args.join(' ')} timed out after ${timeoutMs} ms\n`;
        killGroup(child.pid);
      }, timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        this.rents.delete(child);
        const at = stdout.lastIndexOf('{\n  "failovers"');
        let summary: RentResult['summary'] = null;
        if (at >= 0)
          try {
            summary = JSON.parse(stdout.slice(at));
          } catch {
            summary = null;
          }
        const errLine = stdout.split('\n').findLast((l) => l.startsWith('{"error":'));
        let error: RentResult['error'] = null;
        if (errLine)
          try {
            error = JSON.parse(errLine).error;
          } catch {
            error = null;
          }
        // Let the pipes drain before resolving.
        setImmediate(() => resolve({ code, stdout, stderr, summary, error }));
      });
    });
    return { child, result, stdout: () => stdout, stderr: () => stderr };
  }

  /** Processes whose working directory is under this cluster's directory (workloads): pids. */
  strayWorkloads(): number[] {
    const pids: number[] = [];
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        if (readlinkSync(`/proc/${p}/cwd`).startsWith(this.dir + '/')) pids.push(Number(p));
      } catch {
        // gone, or not ours to read
      }
    }
    return pids;
  }

  /** The tail of every node's stderr (and of NATS's log), for a failed test. */
  logs(maxPerNode = 4000): string {
    const parts = [...this.nodes.values()].map(
      (n) => `──── ${n.name} (${n.spec.roles.join(',')}) stderr:\n${n.stderr.value.slice(-maxPerNode)}`,
    );
    parts.push(`──── nats-server:\n${this.nats?.log.slice(-maxPerNode) ?? ''}`);
    return parts.join('\n');
  }

  /**
   * Kills everything this cluster started (nodes, rents, workloads, nats-server), checks that
   * none is left, and removes the directory unless `keep`.
   */
  async destroy(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.logRef) await this.logRef.close().catch(() => undefined);
    this.logRef = null;
    const groups: number[] = [];
    for (const r of this.rents) if (r.pid) groups.push(r.pid);
    for (const n of this.nodes.values()) if (n.pid) groups.push(n.pid);
    for (const pid of groups) killGroup(pid);
    await Promise.all([...this.nodes.values()].map((n) => n.kill()));
    // Workloads run in sessions of their own: find them by working directory.
    for (const pid of this.strayWorkloads()) {
      killGroup(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await this.nats?.kill();
    for (const p of this.proxies) await p.close();
    const left = await waitFor(
      () => {
        const alive = [...groups.filter(groupAlive), ...this.strayWorkloads()];
        return alive.length === 0 ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'every process of the cluster to exit' },
    ).catch((e: Error) => e);
    if (!opts.keep) rmSync(this.dir, { recursive: true, force: true });
    if (left instanceof Error) throw left;
  }
}

/** Leases of the whole ledger as one API node sees them (newest first). */
export async function leases(api: string, query = ''): Promise<LeaseView[]> {
  return (await getJson<{ leases: LeaseView[] }>(`${api}/v1/leases?limit=1000${query}`)).leases;
}

export async function account(api: string, address: string): Promise<AccountView> {
  return getJson<AccountView>(`${api}/v1/accounts/${address}`);
}

// ─── the standard network of these tests ─────────────────────────────────────────────────────

export const CITIES = ['Frankfurt, DE', 'Paris, FR', 'Amsterdam, NL'];

export interface StandardCluster {
  c: Cluster;
  apiA: NodeProcess;
  apiB: NodeProcess;
  indexers: NodeProcess[];
  checkers: NodeProcess[];
  containers: NodeProcess[];
  /** every node: all of them have the api role, so every root can be read */
  all: NodeProcess[];
}

/**
 * 2 API nodes, 2 indexers, 3 checkers and 3 containers with one declared RTX 4090 each (one per
 * city), every node with an API on a free port; users funded with 1,000,000 ATH each. Resolves
 * once the three containers serve.
 */
export async function startStandardCluster(prefix: string, userNames: string[]): Promise<StandardCluster> {
  const c = await Cluster.create({ prefix });
  try {
    const users = userNames.map((n) => c.user(n));
    const checkerNames = ['chk-1', 'chk-2', 'chk-3'];
    const containerNames = ['gpu-1', 'gpu-2', 'gpu-3'];
    const checkerAddrs = checkerNames.map((n) => c.nodeKey(n));
    const containerAddrs = containerNames.map((n) => c.nodeKey(n));
    await c.init({
      checkers: checkerAddrs,
      allocations: [
        ...users.map((u) => ({ address: u.key.address, ath: 1_000_000n })),
        ...containerAddrs.map((address) => ({ address, ath: 100_000n })),
      ],
    });
    const [apiA, apiB, ...indexers] = await c.startNodes([
      { name: 'api-a', roles: ['api'] },
      { name: 'api-b', roles: ['api'] },
      { name: 'idx-1', roles: ['indexer', 'api'] },
      { name: 'idx-2', roles: ['indexer', 'api'] },
    ]);
    // The containers declare RTX 4090s this CPU-only machine does not have: a capacity check would
    // (rightly) slash them, so these checkers run the other checks (capacity is tested in test/e2e).
    const checkers = await c.startNodes(
      checkerNames.map((name) => ({ name, roles: ['checker', 'api'], checks: 'liveness,location,qos' })),
    );
    const containers = await c.startNodes(
      containerNames.map((name, i) => ({
        name,
        roles: ['container', 'api'],
        location: CITIES[i],
        declareGpus: '1x RTX 4090 24GB',
      })),
    );
    await waitServing(apiA!.api, containerAddrs);
    return {
      c,
      apiA: apiA!,
      apiB: apiB!,
      indexers,
      checkers,
      containers,
      all: [apiA!, apiB!, ...indexers, ...checkers, ...containers],
    };
  } catch (e) {
    const logs = c.logs();
    await c.destroy({ keep: true }).catch(() => undefined);
    throw new Error(`${(e as Error).message}\n${logs}`, { cause: e });
  }
}

/** Waits until every one of `containers` is online and staked (matchable), as `api` sees it. */
export async function waitServing(api: string, containers: string[], timeoutMs = 60_000): Promise<void> {
  let last: unknown;
  await waitFor(
    async () => {
      const { containers: cs } = await getJson<{
        containers: Array<{ id: string; status: string; serving: boolean; gpusFree: number }>;
      }>(`${api}/v1/containers?limit=1000`);
      last = cs.map((x) => `${x.id.slice(0, 10)}:${x.status}:${x.serving}`);
      return containers.every((id) => cs.some((x) => x.id === id && x.serving));
    },
    { timeoutMs, what: `containers ${containers.join(',')} to serve`, last: () => last },
  );
}
