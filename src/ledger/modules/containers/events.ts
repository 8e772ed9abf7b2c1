/**
 * A container's record changed: registration, stake, unbonding, status, a check's verdict, its
 * leases, a slash, an epoch's delivery counter. Emitted once per transaction and container, by
 * the context's `putContainer`, so no write to a container goes unannounced.
 */
export interface ContainerChanged {
  type: 'ContainerChanged';
  id: string;
}

export type ContainersEvent = ContainerChanged;
