/** How much the classifier learns from what happened to mail, where the learning is queued from more than one place. */

/** A challenge nobody answered says little: most forged senders never see it. */
export const EXPIRED_CHALLENGE_WEIGHT = 0.25;
