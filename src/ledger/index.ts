export * from './tx.js';
export * from './app.js';
export * from './receipt.js';
export * from './params.js';
export * from './model.js';
export * from './genesis.js';
export * from './state.js';
export * from './assignment.js';
export * from './machine.js';
export * from './reader.js';
export * from './context.js';
export { publicTx } from './registry.js';
export {
  publicWorkload,
  leaseFunds,
  escrowRunsOutAt,
  paysWholeDuration,
  lowFundsMs,
  type LeaseFunds,
} from './modules/leases/queries.js';
export { hasLeft } from './modules/containers/queries.js';
export { volumeCost, type Volume, type VolumeStatus } from './modules/volumes/queries.js';
export {
  MountPath,
  VolumeMount,
  VolumeName,
  MIN_VOLUME_MIB,
  MAX_VOLUME_MIB,
} from './modules/volumes/payloads.js';
export type {
  LedgerEvent,
  LedgerEventType,
  AppPublished,
  Transferred,
  VestingClaimed,
  CheckDecided,
  Slashed,
  ContainerChanged,
  ParamsChanged,
  ProposalDecided,
  EpochClosed,
  LeaseClosed,
  LeaseOpened,
  LeaseSettled,
  LeaseToppedUp,
  LeasePaused,
  LeaseResumed,
  VolumeClosed,
  VolumeCreated,
  VolumeSettled,
  LeasePreempted,
  ReservationClosed,
  ReservationOpened,
  ReservationSettled,
} from './registry.js';
export { dailyPrice } from './modules/reservations/queries.js';
export { MAX_RESERVATION_DAYS, MAX_RESERVATIONS_PER_CONTAINER } from './modules/reservations/payloads.js';
export * from './block.js';
export * from './governance.js';
