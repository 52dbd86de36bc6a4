/**
 * Where a large incoming message waits while crgate decides: a file, not memory. Postfix's lesson
 * again: a filter that keeps every message whole in memory needs as much memory as its clients send
 * at once (maxClients × the size limit), and a 50 MB message then costs 50 MB plus the garbage of the
 * chunks it came in (docs/performance.md, large messages).
 *
 * A message up to SPOOL_ABOVE_BYTES stays one Buffer, as before. A larger one is written to a file
 * as it arrives, and only its first HEAD_BYTES are kept in memory: all that parsing, the classifier
 * and the external scorers ever read (each reads a bounded prefix). What needs every byte reads the
 * file: DKIM's body hash, the copy stored in PostgreSQL, the delivery downstream.
 *
 * The file is removed from its directory as soon as it is created and lives on only through its open
 * descriptor, so nothing is left behind when the process dies, whatever the way. The directory is the
 * system's temporary directory (`TMPDIR`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** Messages larger than this go to a file as they arrive. */
export const SPOOL_ABOVE_BYTES = 4 * 1024 * 1024;
/**
 * The part of a spooled message kept in memory: the largest header block parsing reads
 * (parse-message.ts MAX_HEADER_BYTES, 1 MB) plus the body it scans after it (256 KB), with room.
 */
export const HEAD_BYTES = 2 * 1024 * 1024;

/** A message in a spool file; `head` is its first HEAD_BYTES. */
export class SpooledMessage {
  constructor(
    private readonly file: FileHandle,
    readonly head: Buffer,
    readonly size: number,
  ) {}

  /** The whole message from byte `start` on, read from the file (a new stream each call). */
  stream(start = 0): Readable {
    return createReadStream('', { fd: this.file, start, autoClose: false, highWaterMark: 256 * 1024 });
  }

  /** The message in pieces of `bytes`, each a new Buffer (a consumer may keep them). */
  async *pieces(bytes: number): AsyncGenerator<Buffer> {
    for (let at = 0; at < this.size; at += bytes) {
      const piece = Buffer.allocUnsafe(Math.min(bytes, this.size - at));
      let filled = 0;
      while (filled < piece.length) {
        const { bytesRead } = await this.file.read(piece, filled, piece.length - filled, at + filled);
        if (bytesRead === 0) throw new Error(`spool file ended at ${at + filled} of ${this.size} bytes`);
        filled += bytesRead;
      }
      yield piece;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /**
   * Starts a spool file with the bytes received so far; `append` the rest, then `finish`. The file
   * is unlinked at once: only the descriptor keeps it.
   */
  static async begin(received: readonly Buffer[]): Promise<SpoolWriter> {
    const path = join(tmpdir(), `crgate-spool-${process.pid}-${randomBytes(8).toString('hex')}`);
    const file = await open(path, 'wx+', 0o600);
    await unlink(path).catch(async (err: unknown) => {
      await file.close();
      throw err;
    });
    const writer = new SpoolWriter(file);
    try {
      for (const chunk of received) await writer.append(chunk);
    } catch (err) {
      await writer.discard().catch(() => undefined);
      throw err;
    }
    return writer;
  }
}

/** Writes a spool file chunk by chunk, keeping a copy of the first HEAD_BYTES. */
export class SpoolWriter {
  private readonly head = Buffer.allocUnsafe(HEAD_BYTES);
  private size = 0;

  constructor(private readonly file: FileHandle) {}

  async append(chunk: Buffer): Promise<void> {
    if (this.size < HEAD_BYTES) chunk.copy(this.head, this.size, 0, Math.min(chunk.length, HEAD_BYTES - this.size));
    let written = 0;
    while (written < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, written, chunk.length - written, this.size + written);
      written += bytesWritten;
    }
    this.size += chunk.length;
  }

  finish(): SpooledMessage {
    // A copy of the head: the 2 MB buffer would otherwise stay whole behind a shorter view.
    return new SpooledMessage(this.file, Buffer.from(this.head.subarray(0, Math.min(this.size, HEAD_BYTES))), this.size);
  }

  /** Gives up on the file (the message was refused or the connection failed). */
  async discard(): Promise<void> {
    await this.file.close();
  }
}

/** A received message: whole in memory, or spooled with its head in memory. */
export interface IncomingMessage {
  /** The whole message, or the first HEAD_BYTES of a spooled one. */
  head: Buffer;
  size: number;
  sha256: string;
  spooled?: SpooledMessage;
}

export function inMemory(raw: Buffer): IncomingMessage {
  return { head: raw, size: raw.length, sha256: createHash('sha256').update(raw).digest('hex') };
}
