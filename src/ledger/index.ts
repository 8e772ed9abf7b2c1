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
} from './registry.js';
export * from './block.js';
export * from './governance.js';
