export * from './tx.js';
export * from './params.js';
export * from './model.js';
export * from './genesis.js';
export * from './state.js';
export * from './ledger.js';
export * from './block.js';
export * from './governance.js';
