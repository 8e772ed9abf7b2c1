import { canonicalize, decodeCanonical } from '../core/canonical.js';
import type { Clock } from '../core/clock.js';
import { AethirError } from '../core/errors.js';
import { blockHash, genesisBlock, type Block } from '../ledger/block.js';
import { genesisHash, genesisToWire, parseGenesis, type Genesis } from '../ledger/genesis.js';
import { Ledger, LedgerFault } from '../ledger/machine.js';
import { LedgerState, stateRootOf } from '../ledger/state.js';
import { txId } from '../ledger/tx.js';
import type { JetStreamLog, LogEntry } from '../store/nats/jetstream-log.js';
import type { AsyncChainStore } from '../store/ports.js';

import type { AppliedTx, BlockEvent, SubmitOutcome } from './chain.js';

/** A node's state at one height, enough to start another replica without replaying the log. */
export interface Snapshot {
  chainId: string;
  genesis: Genesis;
  head: Block;
  state: Array<[string, unknown]>;
}

export interface ReplicaOptions {
  /** names the durable consumer on the log: one per replica */
  name: string;
  clock: Clock;
  /** start an empty store from this snapshot instead of from genesis */
  snapshot?: Snapshot;
  /** how long `submit` waits for its transaction to be applied here (default 30 s) */
  applyTimeoutMs?: number;
  log?: (line: string) => void;
}

interface Waiter {
  resolve: (o: SubmitOutcome) => void;
  timer: NodeJS.Timeout;
}

const REMEMBERED_OUTCOMES = 20_000;

function asError(e: unknown): AethirError {
  return e instanceof AethirError
    ? e
    : new AethirError('UNAVAILABLE', `the log failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/**
 * A replica of the ledger behind the shared log (NATS JetStream): it folds every entry through
 * the same deterministic `Ledger.apply` as the embedded sequencer, one block per entry (height =
 * log sequence - 1, block time = the time the log stored the entry), so every replica reaches
 * the same state root at the same height. A rejected entry becomes an empty block: it changes
 * nothing, on every replica alike; an entry that faults (a bug, not a rejection) halts the
 * replica at its last good block instead (see halt). Its materialized state lives in any `AsyncChainStore`
 * (SQLite, memory, PostgreSQL).
 */
export class Replica {
  private ledgerRef!: Ledger;
  private headRef!: Block;
  readonly genesis: Genesis;
  private readonly listeners = new Set<(e: BlockEvent) => void>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly heightWaiters = new Set<{ height: number; resolve: () => void }>();
  /** recent outcomes by transaction id, for submissions that arrive after their entry applied */
  private readonly outcomes = new Map<string, SubmitOutcome>();
  private follower: { stop: () => Promise<void> } | null = null;
  private fault: LedgerFault | null = null;
  private readonly counters = { applied: 0, rejected: 0, errors: 0 };

  private constructor(
    readonly store: AsyncChainStore,
    readonly log: JetStreamLog,
    private readonly opts: ReplicaOptions,
    genesis: Genesis,
  ) {
    this.genesis = genesis;
  }

  static async open(store: AsyncChainStore, log: JetStreamLog, opts: ReplicaOptions): Promise<Replica> {
    const genesis = await log.readGenesis();
    if (!genesis)
      throw new AethirError(
        'UNAVAILABLE',
        `the log of chain "${log.chainId}" has no genesis yet: run "aethir network init" first`,
      );
    const r = new Replica(store, log, opts, genesis);
    await r.load();
    return r;
  }

  private async load(): Promise<void> {
    const stored = await this.store.readGenesis();
    if (stored && genesisHash(stored) !== genesisHash(this.genesis))
      throw new AethirError(
        'CONFLICT',
        `this node's ${this.store.kind} store holds another chain than the log: use a fresh data directory or schema`,
      );
    if (!stored) {
      const snap = this.opts.snapshot;
      if (snap) {
        if (genesisHash(snap.genesis) !== genesisHash(this.genesis))
          throw new AethirError('CONFLICT', 'the snapshot is of another chain than the log');
        if (stateRootOf(snap.state) !== snap.head.root)
          throw new AethirError('STORE_CORRUPT', 'the snapshot state does not match its root');
        await this.store.init(this.genesis, snap.head, snap.state);
      } else {
        const ledger = Ledger.fromGenesis(this.genesis);
        ledger.state.takeDirty();
        await this.store.init(this.genesis, genesisBlock(this.genesis, ledger), ledger.state.entries());
      }
    }
    const head = await this.store.head();
    if (!head) throw new AethirError('STORE_CORRUPT', 'the store has a genesis but no blocks');
    const ledger = Ledger.fromState(LedgerState.fromEntries(await this.store.loadState()));
    if (ledger.root() !== head.root)
      throw new AethirError('STORE_CORRUPT', `stored state does not match block ${head.height}`);
    this.ledgerRef = ledger;
    this.headRef = head;
  }

  /** Starts following the log from the entry after this store's head. */
  async start(): Promise<void> {
    if (this.fault) throw this.haltedError();
    if (this.follower) return;
    this.follower = await this.log.follow(
      `replica-${this.opts.name}`,
      this.headRef.height + 2,
      (e) => this.applyEntry(e),
      (e) => {
        this.counters.errors++;
        this.opts.log?.(`replica ${this.opts.name}: following the log: ${e.message}; retrying`);
      },
    );
  }

  get ledger(): Ledger {
    return this.ledgerRef;
  }
  get head(): Block {
    return this.headRef;
  }
  get chainId(): string {
    return this.genesis.chainId;
  }
  get stats(): { applied: number; rejected: number; errors: number; height: number } {
    return { ...this.counters, height: this.headRef.height };
  }

  onBlock(listener: (e: BlockEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The entry being applied: its state changes are in memory before its block is durable in the
   * store (and before its outcome is recorded), so a submission waits for it to settle first.
   */
  private applying: Promise<unknown> = Promise.resolve();

  private applyEntry(e: LogEntry): Promise<void> {
    const p = this.applyEntryNow(e);
    this.applying = p.catch(() => undefined);
    return p;
  }

  private async applyEntryNow(e: LogEntry): Promise<void> {
    if (this.fault) return; // halted: nothing more applies here
    const height = e.seq - 1;
    if (height !== this.headRef.height + 1)
      throw new Error(`entry ${e.seq} does not follow block ${this.headRef.height}`);
    const time = Math.max(e.time, this.headRef.time);
    const applied: AppliedTx[] = [];
    let outcome: { id: string | null; error?: AethirError } = { id: null };
    try {
      const { tx, result, events } = this.ledgerRef.apply(e.tx, {
        height,
        time,
        prevHash: this.headRef.hash,
      });
      applied.push({ id: tx.id, tx, result, events });
      outcome = { id: tx.id };
    } catch (err) {
      // Bugs halt, rejections don't: a fault is never sealed as an empty block.
      if (!(err instanceof AethirError) || err instanceof LedgerFault)
        return this.halt(
          err instanceof LedgerFault ? err : new LedgerFault('(unknown)', '(unknown)', height, err),
        );
      outcome = { id: idOf(e.tx), error: err };
    }
    const root = this.ledgerRef.root();
    const partial = {
      height,
      time,
      prevHash: this.headRef.hash,
      txs: applied.map((a) => a.tx.tx),
      root,
    };
    const ids = applied.map((a) => a.id);
    const block: Block = { ...partial, hash: blockHash(partial, ids) };
    try {
      await this.store.append(block, this.ledgerRef.state.takeDirty(), ids);
    } catch (err) {
      // The in-memory state ran ahead of the store: reload what is durable; the follower
      // retries this entry.
      await this.load();
      throw err;
    }
    this.headRef = block;
    if (applied.length) this.counters.applied++;
    else this.counters.rejected++;
    if (outcome.id) {
      const o: SubmitOutcome = outcome.error
        ? { ok: false, error: outcome.error }
        : { ok: true, id: outcome.id, height, root, result: applied[0]!.result };
      this.remember(outcome.id, o);
      const ws = this.waiters.get(outcome.id);
      if (ws) {
        this.waiters.delete(outcome.id);
        for (const w of ws) {
          clearTimeout(w.timer);
          w.resolve(o);
        }
      }
    }
    for (const w of this.heightWaiters)
      if (w.height <= height) {
        this.heightWaiters.delete(w);
        w.resolve();
      }
    const event: BlockEvent = { block, applied };
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // Listeners own their errors; the replica must go on.
      }
    }
  }

  /**
   * Bugs halt, rejections don't: an entry faulted (LedgerFault), so this replica stops following
   * the log with its store and its ledger at the last good block (the fault's writes were never
   * made), says why in its log, answers every waiting and later submission with the fault, and
   * refuses to start again until the code is fixed and the node restarted.
   */
  private halt(fault: LedgerFault): void {
    this.fault = fault;
    this.opts.log?.(
      `replica ${this.opts.name}: LEDGER HALTED at block ${this.headRef.height}: ${fault.message}`,
    );
    // Not awaited: this runs inside the follower's handler, which its stop() waits for.
    const follower = this.follower;
    this.follower = null;
    void follower?.stop();
    for (const [id, ws] of this.waiters)
      for (const w of ws) {
        clearTimeout(w.timer);
        w.resolve({ ok: false, error: id === fault.txId ? fault : this.haltedError() });
      }
    this.waiters.clear();
  }

  private haltedError(): AethirError {
    return new AethirError('UNAVAILABLE', `the ledger halted: ${this.fault!.message}`, { cause: this.fault });
  }

  /** The fault that stopped this replica's ledger, if one did (see halt). */
  get halted(): LedgerFault | null {
    return this.fault;
  }

  private remember(id: string, o: SubmitOutcome): void {
    this.outcomes.set(id, o);
    if (this.outcomes.size > REMEMBERED_OUTCOMES) {
      const oldest = this.outcomes.keys().next().value;
      if (oldest !== undefined) this.outcomes.delete(oldest);
    }
  }

  /** Resolves once this replica has applied block `height`. */
  waitForHeight(height: number, timeoutMs = 30_000): Promise<void> {
    if (this.headRef.height >= height) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        height,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.heightWaiters.delete(w);
        reject(new AethirError('TIMEOUT', `block ${height} was not applied within ${timeoutMs} ms`));
      }, timeoutMs);
      this.heightWaiters.add(w);
    });
  }

  /**
   * Checks a transaction against this replica's state, appends it to the log and resolves with
   * its outcome once this replica has applied it. A transaction whose nonce is ahead of the
   * account's (an earlier one is still on its way) cannot be fully checked yet; the log's
   * ordering decides it. A rejected transaction never reaches the log when the check can see
   * why; one rejected at apply time is an empty block and answers with its error.
   */
  async submit(raw: unknown): Promise<SubmitOutcome> {
    await this.applying;
    if (this.fault) return { ok: false, error: this.haltedError() };
    // A retry of a transaction this node has seen applied answers with the same outcome.
    const seen = idOf(raw);
    const before = seen ? this.outcomes.get(seen) : undefined;
    if (before) return before;
    let id: string;
    try {
      const ctx = {
        height: this.headRef.height + 1,
        time: Math.max(Math.floor(this.opts.clock.now()), this.headRef.time),
        prevHash: this.headRef.hash,
      };
      const decoded = (() => {
        try {
          return this.ledgerRef.check(raw, ctx).tx;
        } catch (e) {
          if (e instanceof LedgerFault) {
            // the dry run hit a bug: this node stops, and the entry never reaches the log
            this.halt(e);
            throw e;
          }
          const err = asError(e);
          const expected = err.details?.expected;
          const nonce = (raw as { nonce?: unknown }).nonce;
          if (err.code === 'NONCE_MISMATCH' && typeof expected === 'number' && Number(nonce) > expected)
            return null;
          throw err;
        }
      })();
      id = decoded?.id ?? idOf(raw)!;
    } catch (e) {
      return { ok: false, error: asError(e) };
    }
    const known = this.outcomes.get(id);
    if (known) return known;
    const wait = new Promise<SubmitOutcome>((resolve) => {
      const timer = setTimeout(() => {
        const ws = (this.waiters.get(id) ?? []).filter((w) => w.resolve !== resolve);
        if (ws.length) this.waiters.set(id, ws);
        else this.waiters.delete(id);
        resolve({
          ok: false,
          error: new AethirError(
            'TIMEOUT',
            `transaction ${id.slice(0, 16)} is in the log but this node has not applied it yet`,
          ),
        });
      }, this.opts.applyTimeoutMs ?? 30_000);
      const list = this.waiters.get(id) ?? [];
      list.push({ resolve, timer });
      this.waiters.set(id, list);
    });
    let seq: number;
    try {
      seq = (await this.log.append(raw as never)).seq;
    } catch (e) {
      this.dropWaiters(id);
      return { ok: false, error: asError(e) };
    }
    // A duplicate of an entry applied before this node remembered outcomes: look it up.
    if (seq - 1 <= this.headRef.height && !this.outcomes.has(id)) {
      const rec = await this.store.tx(id);
      this.dropWaiters(id);
      if (rec) {
        const b = await this.store.block(rec.height);
        return { ok: true, id, height: rec.height, root: b?.root ?? '', result: {} };
      }
      return {
        ok: false,
        error: new AethirError(
          'CONFLICT',
          `transaction ${id.slice(0, 16)} was submitted before and rejected`,
        ),
      };
    }
    return wait;
  }

  /** Forgets who waits for a transaction this submission answers itself. */
  private dropWaiters(id: string): void {
    for (const w of this.waiters.get(id) ?? []) clearTimeout(w.timer);
    this.waiters.delete(id);
  }

  /** The state at the current head, for a new replica to start from. */
  snapshot(): Snapshot {
    return {
      chainId: this.chainId,
      genesis: this.genesis,
      head: this.headRef,
      state: [...this.ledgerRef.state.entries()],
    };
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.follower = null;
    for (const [, ws] of this.waiters)
      for (const w of ws) {
        clearTimeout(w.timer);
        w.resolve({ ok: false, error: new AethirError('UNAVAILABLE', 'the node is shutting down') });
      }
    this.waiters.clear();
    this.listeners.clear();
  }
}

function idOf(raw: unknown): string | null {
  try {
    return txId(raw as never);
  } catch {
    return null;
  }
}

/** A snapshot as text (canonical JSON: bigints survive), for GET /v1/snapshot and files. */
export function snapshotToWire(s: Snapshot): string {
  return canonicalize({
    chainId: s.chainId,
    genesis: genesisToWire(s.genesis),
    head: s.head,
    state: s.state,
  });
}

export function snapshotFromWire(text: string): Snapshot {
  try {
    const w = decodeCanonical(text) as { chainId: string; genesis: unknown; head: Block; state: unknown };
    if (!w || typeof w !== 'object' || !Array.isArray(w.state) || typeof w.head?.height !== 'number')
      throw new Error('not a snapshot (chainId, genesis, head, state)');
    const genesis = parseGenesis(w.genesis);
    return { chainId: genesis.chainId, genesis, head: w.head, state: w.state as Array<[string, unknown]> };
  } catch (e) {
    throw new AethirError('INVALID_ARGUMENT', `unreadable snapshot: ${(e as Error).message}`, { cause: e });
  }
}
