export * from './manifest.js';
export * from './installer.js';
export * from './local-apps.js';
