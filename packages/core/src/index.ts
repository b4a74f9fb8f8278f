export * from './backend.js';
export * from './errors.js';
export * from './paths.js';
export * from './tree.js';
