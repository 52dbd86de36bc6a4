export * from './lmtp-server.js';
export * from './parse-message.js';
export * from './downstream.js';
