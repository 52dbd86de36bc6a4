export * from './worker.js';
export * from './outbox-relay.js';
export * from './producer-queues.js';
export * from './challenge-job.js';
export * from './delivery-job.js';
export * from './challenge-template.js';
export * from './learning-job.js';
export * from './digest-job.js';
