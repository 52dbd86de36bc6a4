/**
 * What mailauth is given is bounded: at most the first 10 DKIM-Signature fields and the first 5,000
 * header fields, so a crafted header costs bounded CPU (docs/performance.md). An ordinary message is
 * passed as it is, without a copy.
 */
import { describe, expect, it } from 'vitest';
import { boundedForAuthentication, MAX_AUTH_HEADER_FIELDS, MAX_DKIM_SIGNATURES, parseHeaders } from '@crgate/ingest';

const BODY = 'Hello,\r\n\r\nthe body stays as it is.\r\n';

function message(fields: string[]): Buffer {
  return Buffer.from(`${fields.join('\r\n')}\r\n\r\n${BODY}`);
}

const signature = (i: number) => `DKIM-Signature: v=1; a=rsa-sha256; d=example${i}.test; s=s${i}; l=${i};\r\n\th=from:subject; bh=abc; b=def`;

describe('the message given to authentication', () => {
  it('is the same buffer for an ordinary message', () => {
    const raw = message(['Received: from mx by us', signature(1), 'From: a@example.test', 'Subject: hi']);
    expect(boundedForAuthentication(raw)).toBe(raw);
  });

  it('keeps only the first 10 DKIM signatures, and every other field and the body', () => {
    const raw = message(['Received: from mx by us', ...Array.from({ length: 200 }, (_, i) => signature(i)), 'From: a@example.test', 'Subject: hi']);
    const bounded = boundedForAuthentication(raw);
    const { headers, bodyOffset } = parseHeaders(bounded);
    expect(headers.get('dkim-signature')).toHaveLength(MAX_DKIM_SIGNATURES);
    expect(headers.get('dkim-signature')![9]).toContain('d=example9.test');
    expect(headers.get('from')).toEqual(['a@example.test']);
    expect(headers.get('received')).toEqual(['from mx by us']);
    expect(bounded.subarray(bodyOffset).toString()).toBe(BODY);
  });

  it('keeps only the first 5,000 header fields of a header bomb', () => {
    const raw = message(['From: a@example.test', ...Array.from({ length: 100_000 }, (_, i) => `X-Filler-${i}: x`)]);
    const bounded = boundedForAuthentication(raw);
    const text = bounded.toString();
    expect(text.split('\r\n\r\n')[0]!.split('\r\n')).toHaveLength(MAX_AUTH_HEADER_FIELDS);
    expect(text.endsWith(`\r\n\r\n${BODY}`)).toBe(true);
  });
});
