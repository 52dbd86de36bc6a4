/**
 * submittedWithAuthentication against the newest Received header as parseHeaders keeps it: the shapes
 * Postfix, Exim and Sendmail write for a client that logged in count; what a client on port 25 can make
 * a real Postfix 3.7 write does not. The folded ones below were captured from Postfix 3.7.11 set up
 * from deploy/: its LMTP client breaks a line at 998 characters by inserting CRLF and one space
 * (lmtp_line_length_limit), so a long HELO name puts client text at the start of a line, but
 * smtpd turns the blanks in a HELO name into '?', and crgate's LMTP refuses a recipient with a blank.
 */
import { describe, expect, it } from 'vitest';
import { parseHeaders, submittedWithAuthentication } from '@crgate/ingest';

const authenticated = (received: string) => submittedWithAuthentication(parseHeaders(Buffer.from(`${received}\r\nFrom: a@example.test\r\n\r\nbody\r\n`)).newestReceived);

describe('submittedWithAuthentication', () => {
  it('counts the Received headers Postfix, Exim and Sendmail write for a client that logged in', () => {
    const shapes = {
      postfix:
        'Received: from laptop.home.test (unknown [198.51.100.77])\r\n\t(Authenticated sender: alice@example.test)\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4Ab\r\n\tfor <bob@example.test>; Thu,  3 Dec 2026 20:29:10 +0000 (UTC)',
      postfixUtf8: 'Received: from laptop.home.test (unknown [198.51.100.77])\r\n\tby mx.example.test (Postfix) with UTF8SMTPSA id 4Ab\r\n\tfor <bob@example.test>; Thu,  3 Dec 2026 20:29:10 +0000 (UTC)',
      exim: 'Received: from [198.51.100.77] (helo=laptop.home.test)\r\n\tby mx.example.test with esmtpsa  (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n\t(Exim 4.96)\r\n\t(envelope-from <alice@example.test>)\r\n\tid 1abc-000123-AB\r\n\tfor bob@example.test;\r\n\tThu, 03 Dec 2026 20:00:00 +0000',
      eximPlain: 'Received: from laptop.home.test ([198.51.100.77] helo=laptop.home.test)\r\n\tby mx.example.test with esmtpa (Exim 4.96)\r\n\t(envelope-from <alice@example.test>)\r\n\tid 1abc-000123-AB;\r\n\tThu, 03 Dec 2026 20:00:00 +0000',
      sendmail:
        'Received: from laptop.home.test (laptop.home.test [198.51.100.77])\r\n\t(authenticated bits=0)\r\n\tby mx.example.test (8.17.1.9/8.17.1.9/Debian-2) with ESMTPSA id 0B3K0abc012345\r\n\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NOT)\r\n\tfor <bob@example.test>; Thu, 3 Dec 2026 20:00:00 GMT',
    };
    for (const [name, received] of Object.entries(shapes)) expect(authenticated(received), name).toBe(true);
  });

  it('does not count client text that Postfix folded to the start of a line', () => {
    const helo = (tail: string) =>
      `Received: from ${'a'.repeat(983)}\r\n ${tail} (localhost [127.0.0.1])\r\n\tby mx.example.test (Postfix) with ESMTP id D0FFC22C4A2\r\n\tfor <bob@example.test>; Thu,  3 Dec 2026 20:29:13 +0000 (UTC)`;
    expect(authenticated(helo('with.ESMTPSA'))).toBe(false);
    expect(authenticated(helo('with?ESMTPSA?x'))).toBe(false); // EHLO ...with ESMTPSA x, as Postfix wrote it
    expect(authenticated(helo('(Authenticated?sender:?alice)'))).toBe(false);
  });
});
