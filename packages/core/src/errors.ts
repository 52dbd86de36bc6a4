/**
 * Errors that cross a protocol edge carry the SMTP-style reply they should become (the Nodemailer
 * convention: `responseCode`). Anything without one is an internal failure and becomes a 4xx: the MTA
 * keeps the message and retries, so nothing is lost.
 */
export class CrgateError extends Error {
  readonly responseCode: number;
  readonly enhancedCode: string;

  constructor(responseCode: number, enhancedCode: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CrgateError';
    this.responseCode = responseCode;
    this.enhancedCode = enhancedCode;
  }

  /** `451 4.3.0 message`, the form smtp-server writes on the wire. */
  get reply(): string {
    return `${this.responseCode} ${this.enhancedCode} ${this.message}`;
  }
}

/** A temporary failure: the client should retry later. */
export function tempFailure(message: string, cause?: unknown): CrgateError {
  return new CrgateError(451, '4.3.0', message, { cause });
}

/** Turns any error into one that is safe to send to the MTA: unknown errors become 451 4.3.0. */
export function toReplyError(err: unknown): CrgateError {
  if (err instanceof CrgateError) return err;
  return tempFailure('Temporary internal error, try again later', err);
}
