export * from './errors.js';
export * from './encoding.js';
export * from './amount.js';
export * from './keys.js';
export * from './clock.js';
export * from './config.js';
export * from './merkle.js';
export * from './geo.js';
