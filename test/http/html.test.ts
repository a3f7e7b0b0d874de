import { describe, expect, it } from 'vitest';
import { escapeHtml, html } from '../../src/http/web/html.js';

describe('html', () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const subject = `<script>alert("x")</script> & 'quotes'`;
    expect(html`<td title="${subject}">${subject}</td>`.toString()).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;</td>',
    );
  });

  it('keeps nested templates as markup, joins lists, and renders absent values as nothing', () => {
    const items = ['a<b', 'c'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${items}</ul>${undefined}${null}${false}${0}`.toString()).toBe('<ul><li>a&lt;b</li><li>c</li></ul>0');
  });

  it('escapes a string that merely looks like markup', () => {
    expect(escapeHtml('&lt;')).toBe('&amp;lt;');
  });
});
