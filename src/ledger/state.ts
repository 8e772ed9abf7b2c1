import { canonicalize } from '../core/canonical.js';
import { sha256 } from '../core/encoding.js';
import {
  EMPTY_ROOT,
  leafHash,
  merkleProof,
  merkleRoot,
  nodeHash,
  verifyMerkleProof,
  type MerkleProofStep,
} from '../core/merkle.js';

/**
 * How the state root is built: every (key, canonical value) pair is a leaf; a key belongs to
 * one of 2^16 buckets by the first two bytes of sha256(key); a bucket's hash is the Merkle
 * root of its leaves in key order; the state root is the root of a complete binary tree of
 * depth 16 over the bucket hashes (an empty subtree hashes to a fixed value per level).
 * Changing one entry rehashes its bucket and the 16 nodes above it, not the whole state, so
 * a block costs the same at a hundred entries as at millions.
 */
export const BUCKET_BITS = 16;
const BUCKETS = 1 << BUCKET_BITS;
const EMPTY: Buffer[] = [EMPTY_ROOT];
for (let l = 1; l <= BUCKET_BITS; l++) EMPTY.push(nodeHash(EMPTY[l - 1]!, EMPTY[l - 1]!));

function bucketOf(key: string): number {
  const h = sha256(key);
  return (h[0]! << 8) | h[1]!;
}

function entryLeaf(key: string, value: unknown): Buffer {
  return leafHash(`${key}\u0000${canonicalize(value)}`);
}

/**
 * Checks a state proof without the database: the leaf is recomputed from the key and the
 * value's canonical encoding, then hashed up the proof to the root.
 */
export function verifyStateProof(p: {
  key: string;
  value: string;
  proof: MerkleProofStep[];
  root: string;
}): boolean {
  const leaf = leafHash(`${p.key}\u0000${p.value}`);
  return verifyMerkleProof(leaf, p.proof, Buffer.from(p.root, 'hex'));
}

/** The state root computed from scratch: the reference definition, for audits and tests. */
export function stateRootOf(entries: Iterable<[string, unknown]>): string {
  const buckets = new Map<number, Array<[string, Buffer]>>();
  for (const [k, v] of entries) {
    const b = bucketOf(k);
    let list = buckets.get(b);
    if (!list) buckets.set(b, (list = []));
    list.push([k, entryLeaf(k, v)]);
  }
  let level = new Map<number, Buffer>();
  for (const [b, list] of buckets) {
    list.sort((x, y) => (x[0] < y[0] ? -1 : 1));
    level.set(b, merkleRoot(list.map((e) => e[1])));
  }
  for (let l = 0; l < BUCKET_BITS; l++) {
    const up = new Map<number, Buffer>();
    for (const i of level.keys()) {
      const p = i >> 1;
      if (up.has(p)) continue;
      up.set(p, nodeHash(level.get(p * 2) ?? EMPTY[l]!, level.get(p * 2 + 1) ?? EMPTY[l]!));
    }
    level = up;
  }
  return (level.get(0) ?? EMPTY[BUCKET_BITS]!).toString('hex');
}

/**
 * The whole ledger state is one key-value map (accounts, containers, leases, treasury,
 * parameters...), so a single Merkle root covers all of it. Writes made while a transaction
 * is applied go to an overlay: a rejected transaction discards the overlay and leaves the
 * state - and its root - exactly as it was.
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
  /** the keys of each non-empty bucket */
  private readonly buckets = new Map<number, Set<string>>();
  private readonly bucketCache = new Map<string, number>();
  /** buckets changed since the last root() */
  private dirtyBuckets = new Set<number>();
  /** tree nodes by heap index (1 = root, BUCKETS + b = bucket b); absent = empty subtree */
  private readonly nodes = new Map<number, Buffer>();

  static fromEntries(entries: Iterable<[string, unknown]>): LedgerState {
    const s = new LedgerState();
    for (const [k, v] of entries) {
      s.data.set(k, v);
      s.addToBucket(k);
    }
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
          if (this.data.delete(k)) {
            this.sortedKeys = null;
            const b = this.bucket(k);
            this.buckets.get(b)?.delete(k);
            this.dirtyBuckets.add(b);
          }
        } else {
          if (!this.data.has(k)) {
            this.sortedKeys = null;
            this.addToBucket(k);
          }
          this.data.set(k, v);
          this.dirtyBuckets.add(this.bucket(k));
        }
        this.leafCache.delete(k);
        this.dirty.add(k);
      }
      return r;
    } finally {
      this.overlay = null;
    }
  }

  /**
   * Every key with the given prefix, in key order. Inside `atomically` it sees the transaction's
   * own writes (as `get` does), so a handler that writes then scans never reads a stale value.
   */
  *scan<T>(prefix: string): Iterable<[string, T]> {
    const overlay = this.overlay;
    const pending = overlay ? [...overlay.keys()].filter((k) => k.startsWith(prefix)).sort() : [];
    if (pending.length === 0) {
      for (const k of this.keysWithPrefix(prefix)) yield [k, this.data.get(k) as T];
      return;
    }
    const committed = this.keysWithPrefix(prefix).filter((k) => !overlay!.has(k));
    let i = 0;
    let j = 0;
    while (i < committed.length || j < pending.length) {
      if (j >= pending.length || (i < committed.length && committed[i]! < pending[j]!)) {
        const k = committed[i++]!;
        yield [k, this.data.get(k) as T];
      } else {
        const k = pending[j++]!;
        const v = overlay!.get(k);
        if (v !== DELETED) yield [k, v as T];
      }
    }
  }

  size(): number {
    return this.data.size;
  }

  /** The committed keys starting with `prefix`, in order: a binary search to the first, not a full pass. */
  private keysWithPrefix(prefix: string): string[] {
    const keys = this.keys();
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < keys.length && keys[i]!.startsWith(prefix); i++) out.push(keys[i]!);
    return out;
  }

  private keys(): string[] {
    if (!this.sortedKeys) this.sortedKeys = [...this.data.keys()].sort();
    return this.sortedKeys;
  }

  private bucket(k: string): number {
    let b = this.bucketCache.get(k);
    if (b === undefined) {
      b = bucketOf(k);
      this.bucketCache.set(k, b);
    }
    return b;
  }

  private addToBucket(k: string): void {
    const b = this.bucket(k);
    let set = this.buckets.get(b);
    if (!set) this.buckets.set(b, (set = new Set()));
    set.add(k);
    this.dirtyBuckets.add(b);
  }

  private leaf(k: string): Buffer {
    let h = this.leafCache.get(k);
    if (!h) {
      h = entryLeaf(k, this.data.get(k));
      this.leafCache.set(k, h);
    }
    return h;
  }

  private bucketLeaves(b: number): { keys: string[]; leaves: Buffer[] } {
    const keys = [...(this.buckets.get(b) ?? [])].sort();
    return { keys, leaves: keys.map((k) => this.leaf(k)) };
  }

  /**
   * The state root (see stateRootOf). Only buckets changed since the last call are rehashed,
   * then the tree level by level, each dirty inner node once (the paths of a block's buckets
   * share their upper nodes).
   */
  root(): string {
    if (this.dirtyBuckets.size > 0) {
      let parents = new Set<number>();
      for (const b of this.dirtyBuckets) {
        const { leaves } = this.bucketLeaves(b);
        const i = BUCKETS + b;
        if (leaves.length) this.nodes.set(i, merkleRoot(leaves));
        else this.nodes.delete(i);
        parents.add(i >> 1);
      }
      for (let l = 0; l < BUCKET_BITS; l++) {
        const up = new Set<number>();
        for (const i of parents) {
          const left = this.nodes.get(2 * i);
          const right = this.nodes.get(2 * i + 1);
          if (!left && !right) this.nodes.delete(i);
          else this.nodes.set(i, nodeHash(left ?? EMPTY[l]!, right ?? EMPTY[l]!));
          up.add(i >> 1);
        }
        parents = up;
      }
      this.dirtyBuckets = new Set();
    }
    return (this.nodes.get(1) ?? EMPTY[BUCKET_BITS]!).toString('hex');
  }

  /**
   * Proof that `key` holds its current value under `root()`: the steps within its bucket,
   * then the 16 steps up the bucket tree. It verifies with verifyMerkleProof(leaf, proof, root).
   */
  prove(key: string): { leaf: string; proof: MerkleProofStep[] } | undefined {
    if (!this.data.has(key)) return undefined;
    this.root();
    const b = this.bucket(key);
    const { keys, leaves } = this.bucketLeaves(b);
    const proof = merkleProof(leaves, keys.indexOf(key));
    let i = BUCKETS + b;
    for (let l = 0; l < BUCKET_BITS; l++) {
      const sibling = this.nodes.get(i ^ 1) ?? EMPTY[l]!;
      proof.push({ hash: sibling.toString('hex'), side: i & 1 ? 'left' : 'right' });
      i >>= 1;
    }
    return { leaf: this.leaf(key).toString('hex'), proof };
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
