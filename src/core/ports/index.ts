export * from './clock.js';
export * from './db.js';
export * from './dead-letters.js';
export * from './event-bus.js';
export * from './event-store.js';
export * from './saga-store.js';
export * from './saga-repository.js';
export * from './work-queue.js';
