import type { LedgerReader } from '../../reader.js';

/** Where volumes live in the ledger state. */
export const VK = {
  volume: (id: string) => `vol/${id}`,
  prefix: 'vol/',
  /** an owner's live volume of this name (its id), so names are unique per owner */
  name: (owner: string, name: string) => `voln/${owner}/${name}`,
} as const;

export type VolumeStatus = 'active' | 'deleted' | 'lost';

/**
 * A persistent volume: `sizeMiB` of disk on one host (`container`), owned by `owner`, billed
 * per GiB-hour of time its host is online from its own escrow. `charged` is always the price of
 * `servedMs` (capped at the escrow), so settling twice never bills twice.
 */
export interface Volume {
  id: string;
  name: string;
  owner: string;
  container: string;
  sizeMiB: number;
  /** units per GiB-hour, from the host's offer when it was created */
  pricePerGiBHour: bigint;
  /** all the owner locked for it (the deposit and top-ups) */
  escrow: bigint;
  charged: bigint;
  hostShare: bigint;
  protocolShare: bigint;
  createdAt: number;
  /** block time the volume has been settled through */
  settledAt: number;
  /** billed time: the time since creation its host was online (as the checkers decided) */
  servedMs: number;
  /** set while its host is offline (from when the checkers first saw it down): not billed */
  hostDownSince: number | null;
  status: VolumeStatus;
  closedAt: number | null;
  closeReason: string | null;
  closedBy: string | null;
  /**
   * proof of storage: the PBKDF2 iterations its canary blocks are sealed with
   * (params.volumeSealIterations when it was created; absent: not proven, written only when set)
   */
  seal?: number;
}

const MS_PER_HOUR = 3_600_000n;

/** What `ms` of a volume costs (units, rounded down). */
export function volumeCost(pricePerGiBHour: bigint, sizeMiB: number, ms: number): bigint {
  return (pricePerGiBHour * BigInt(sizeMiB) * BigInt(ms)) / (1024n * MS_PER_HOUR);
}

export function volumeOf(r: LedgerReader, id: string): Volume | undefined {
  return r.state.get<Volume>(VK.volume(id));
}

/** Every volume (all statuses), oldest id order. */
export function volumesOf(r: LedgerReader): Volume[] {
  return [...r.state.scan<Volume>(VK.prefix)].map(([, v]) => v);
}

/** An owner's live volume by name. */
export function volumeByName(r: LedgerReader, owner: string, name: string): Volume | undefined {
  const ref = r.state.get<{ id: string }>(VK.name(owner, name));
  return ref === undefined ? undefined : volumeOf(r, ref.id);
}

/** The unspent escrow every live volume holds (the supply invariant counts it). */
export function volumesHeld(r: LedgerReader): bigint {
  let t = 0n;
  for (const [, v] of r.state.scan<Volume>(VK.prefix)) if (v.status === 'active') t += v.escrow - v.charged;
  return t;
}
