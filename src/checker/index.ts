export * from './checker.js';
export * from './capacity/index.js';
