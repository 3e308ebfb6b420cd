export * from './envelope.js';
export * from './pattern.js';
export * from './registry.js';
