export * from './checker.js';
export * from './capacity-bus-channel.js';
export * from './location/index.js';
export * from './qos.js';
export * from './service.js';
export * from './storage.js';
