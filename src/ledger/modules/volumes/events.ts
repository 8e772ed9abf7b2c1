import type { Volume } from './queries.js';

/** A volume created on a host: its agent provisions it. */
export interface VolumeCreated {
  type: 'VolumeCreated';
  volume: Volume;
}

/** A volume's charge moved forward (volume.settle, topup, delete, lost, the host's liveness). */
export interface VolumeSettled {
  type: 'VolumeSettled';
  volume: string;
  container: string;
  /** the volume's total charge after the settle, units */
  charged: bigint;
}

/** A volume ended: deleted (its data is freed) or lost by its host (slashed). */
export interface VolumeClosed {
  type: 'VolumeClosed';
  volume: string;
  container: string;
  owner: string;
  status: 'deleted' | 'lost';
  by: string;
  reason: string;
  refund: bigint;
  /** what the host was slashed (lost only) */
  slashed: bigint;
}

export type VolumesEvent = VolumeCreated | VolumeSettled | VolumeClosed;
