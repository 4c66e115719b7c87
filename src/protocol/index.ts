export * from './constants.js';
export * from './content-length.js';
export * from './errors.js';
export * from './printable.js';
export * from './reader.js';
export * from './vars.js';
