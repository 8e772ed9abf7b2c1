export * from './bounds.js';
export * from './judge.js';
export * from './multilaterate.js';
export * from './peers.js';
export * from './network.js';
export * from './checker.js';
export * from './wonderproxy.js';
export * from './evaluate.js';
