export * from './redis-event-bus.js';
export * from './redis-options.js';
export { decodeEntry, encodeEntry, EntryField } from './entry-codec.js';
