export * from './lmtp-server.js';
export * from './parse-message.js';
export * from './downstream.js';
export * from './decision-pipeline.js';
export * from './dns-resolver.js';
export * from './authenticate.js';
export * from './mail-sources.js';
export * from './outgoing-tap.js';
