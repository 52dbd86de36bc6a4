export * from './engine.js';
export * from './load-config.js';
export * from './logger.js';
export * from './replay.js';
export * from './import-sent.js';
export * from './train.js';
export * from './evaluate.js';
