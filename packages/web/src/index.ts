export * from './web-server.js';
export * from './challenge-routes.js';
export * from './templates.js';
export * from './web-keys.js';
