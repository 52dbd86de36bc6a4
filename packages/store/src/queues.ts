/**
 * Queue names, job names and typed payloads shared by the producers (outbox writers) and the consumers
 * (worker). Payloads carry ids only, never message bodies or secrets; job ids make jobs idempotent.
 */
export const QUEUES = {
  challenges: 'challenges',
  deliveries: 'deliveries',
  maintenance: 'maintenance',
  learning: 'learning',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface JobPayloads {
  'challenge.send': { challengeId: string };
  'message.deliver': { recipientId: number };
  'expiry.sweep': Record<string, never>;
  /** Train the recipient's model with a stored copy (weight 1 = a sure label). */
  /** `whileHeld`: weak evidence, learned only while the copy is still held (the recipient's own word wins). */
  'classifier.train': { recipientId: number; label: 'ham' | 'spam'; weight: number; whileHeld?: boolean };
  'digest.send': Record<string, never>;
}
export type JobName = keyof JobPayloads;

export const JOB_QUEUE: Record<JobName, QueueName> = {
  'challenge.send': QUEUES.challenges,
  'message.deliver': QUEUES.deliveries,
  'expiry.sweep': QUEUES.maintenance,
  'classifier.train': QUEUES.learning,
  'digest.send': QUEUES.maintenance,
};

/** Stable job ids (BullMQ forbids ':' in custom ids). */
export const jobIds = {
  challenge: (challengeId: string) => `challenge-${challengeId}`,
  deliver: (recipientId: number) => `deliver-${recipientId}`,
  train: (recipientId: number, label: string) => `train-${recipientId}-${label}`,
};
