import { describe, expect, it } from "vitest";
import { clip, codeBlock, htmlText, inlineCode, plainText, quotedMarkdown, safeUrl } from "../../src/render/markdown.js";

const Z = "\u200b";

describe("markdown escaping", () => {
  it("inlineCode: a fence longer than any backtick run, one line, pipes escaped in tables", () => {
    expect(inlineCode("a ``b`` c")).toBe("```a ``b`` c```");
    expect(inlineCode("`edge`")).toBe("`` `edge` ``");
    expect(inlineCode("line1\nline2")).toBe("`line1 line2`");
    expect(inlineCode("a|b", { table: true })).toBe("`a\\|b`");
    expect(inlineCode("x".repeat(10), { max: 5 })).toBe("`xxxx…`");
  });

  it("codeBlock: nothing inside can close the fence", () => {
    expect(codeBlock("````\n</details>")).toBe("`````text\n````\n</details>\n`````");
    expect(codeBlock("a\r\nb\u0000")).toBe("```text\na\nb\n```");
  });

  it("plainText: no HTML, no markdown, no table breaks, no mentions or references", () => {
    expect(plainText("<b>x</b> & *y* _z_ [l](u) ![i](u) `c` a|b ~s~ \\ @team #12 GH-3 owner/repo#4\nnext")).toBe(
      `&lt;b&gt;x&lt;/b&gt; &amp; \\*y\\* \\_z\\_ \\[l\\](u) \\!\\[i\\](u) \\\`c\\\` a\\|b \\~s\\~ \\\\ @${Z}team #${Z}12 GH${Z}-3 owner/repo#${Z}4 next`,
    );
    // Cut before escaping: an entity is never cut in half.
    expect(plainText("<<<<", 2)).toBe("&lt;…");
  });

  it("htmlText: cannot close <summary>/<details> or open a tag", () => {
    expect(htmlText('</summary></details><img src="x"> @a #1')).toBe(`&lt;/summary&gt;&lt;/details&gt;&lt;img src="x"&gt; @${Z}a #${Z}1`);
  });

  it("quotedMarkdown: keeps berth's code spans, neutralises the text around them", () => {
    expect(quotedMarkdown("`preview.port`: '<x>' @dev #9 [a](b)\n`a<b>`")).toBe(`\`preview.port\`: '&lt;x&gt;' @${Z}dev #${Z}9 \\[a\\](b)\n\`a<b>\``);
    expect(quotedMarkdown("unclosed ` <b>")).toBe("unclosed ` &lt;b&gt;");
    expect(quotedMarkdown("a | `b|c`\nd", { table: true })).toBe("a \\| `b\\|c` d");
  });

  it("safeUrl and clip", () => {
    expect(safeUrl("https://x.example/a b)<c>")).toBe("https://x.example/a%20b%29%3Cc%3E");
    expect(clip("ab🙂cd", 4)).toBe("ab…");
    expect(clip("abc", 3)).toBe("abc");
  });
});
