import { canonicalize, leafHash, merkleRoot, merkleProof, type MerkleProofStep } from '../core/index.js';

/**
 * The whole ledger state is one ordered key-value map (accounts, containers, leases,
 * treasury, parameters...), so a single Merkle root covers all of it. Writes made while a
 * transaction is applied go to an overlay: a rejected transaction discards the overlay and
 * leaves the state - and its root - exactly as it was.
 *
 * Values are treated as immutable: handlers write a new object, never mutate a stored one.
 */
export class LedgerState {
  private readonly data = new Map<string, unknown>();
  private readonly leafCache = new Map<string, Buffer>();
  private sortedKeys: string[] | null = [];
  private overlay: Map<string, unknown | typeof DELETED> | null = null;
  /** keys changed since the last `takeDirty()`, for persisting incrementally */
  private dirty = new Set<string>();
  private cachedRoot: Buffer | null = null;

  static fromEntries(entries: Iterable<[string, unknown]>): LedgerState {
    const s = new LedgerState();
    for (const [k, v] of entries) s.data.set(k, v);
    s.sortedKeys = null;
    return s;
  }

  get<T>(key: string): T | undefined {
    if (this.overlay?.has(key)) {
      const v = this.overlay.get(key);
      return v === DELETED ? undefined : (v as T);
    }
    return this.data.get(key) as T | undefined;
  }

  set(key: string, value: unknown): void {
    if (!this.overlay) throw new Error('LedgerState.set outside a transaction');
    this.overlay.set(key, value);
  }

  delete(key: string): void {
    if (!this.overlay) throw new Error('LedgerState.delete outside a transaction');
    this.overlay.set(key, DELETED);
  }

  /** Runs fn atomically: every write lands, or (if fn throws) none does. */
  atomically<R>(fn: () => R): R {
    if (this.overlay) throw new Error('nested LedgerState transaction');
    this.overlay = new Map();
    try {
      const r = fn();
      for (const [k, v] of this.overlay) {
        if (v === DELETED) {
          if (this.data.delete(k)) this.sortedKeys = null;
        } else {
          if (!this.data.has(k)) this.sortedKeys = null;
          this.data.set(k, v);
        }
        this.leafCache.delete(k);
        this.dirty.add(k);
        this.cachedRoot = null;
      }
      return r;
    } finally {
      this.overlay = null;
    }
  }

  /** Every key with the given prefix, in key order (committed state only). */
  *scan<T>(prefix: string): Iterable<[string, T]> {
    for (const k of this.keys()) if (k.startsWith(prefix)) yield [k, this.data.get(k) as T];
  }

  size(): number {
    return this.data.size;
  }

  private keys(): string[] {
    if (!this.sortedKeys) this.sortedKeys = [...this.data.keys()].sort();
    return this.sortedKeys;
  }

  private leaf(k: string): Buffer {
    let h = this.leafCache.get(k);
    if (!h) {
      h = leafHash(`${k}\u0000${canonicalize(this.data.get(k))}`);
      this.leafCache.set(k, h);
    }
    return h;
  }

  /** Merkle root over (key, canonical value) leaves in key order; leaf hashes are cached. */
  root(): string {
    if (!this.cachedRoot) this.cachedRoot = merkleRoot(this.keys().map((k) => this.leaf(k)));
    return this.cachedRoot.toString('hex');
  }

  /** Proof that `key` holds its current value under `root()`: anyone can audit one account. */
  prove(key: string): { leaf: string; proof: MerkleProofStep[] } | undefined {
    const keys = this.keys();
    const i = keys.indexOf(key);
    if (i < 0) return undefined;
    return {
      leaf: this.leaf(key).toString('hex'),
      proof: merkleProof(
        keys.map((k) => this.leaf(k)),
        i,
      ),
    };
  }

  takeDirty(): Array<[string, unknown | undefined]> {
    const out: Array<[string, unknown | undefined]> = [...this.dirty].map((k) => [k, this.data.get(k)]);
    this.dirty = new Set();
    return out;
  }

  entries(): Iterable<[string, unknown]> {
    return this.data.entries();
  }
}

const DELETED = Symbol('deleted');
