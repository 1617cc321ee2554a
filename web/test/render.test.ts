import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { IncrementalRenderer, renderMarkdown } from "../render/index.js";
import { closeDangling } from "../render/incremental.js";
import { newDocument } from "./dom.js";

export const SAMPLE = [
  "# Title\n\nSome *emphasis*, **strong** and `code`, 你好，世界！ 🌍👩‍💻.\n",
  "Setext heading\n---\n\n- one\n- two\n\n  continued\n- three\n\n1. first\n2. second\n\n",
  "> quoted\nlazy line\n\n> quote two\n\n```python\ndef f(x):\n    return x * 2\n```\n\n",
  "| a | b |\n|:--|--:|\n| 1 | 2 |\n| 3 | 4 |\n\npara after table\n\n    indented code\n\n",
  "***\n\nA [link](https://example.com) and <https://example.org> and www.example.net.\n",
  "~~~\nunclosed tilde fence is closed\n~~~\n\nfoo\nbar\n===\n\n- [ ] task\n\nend `x` **y",
].join("");

function streamed(text: string, sizes: number[], paintEvery = 1): string {
  const doc = newDocument();
  const box = doc.createElement("div");
  const renderer = new IncrementalRenderer(box, { schedule: () => {} });
  let at = 0;
  let n = 0;
  while (at < text.length) {
    const size = sizes[n % sizes.length]!;
    renderer.append(text.slice(at, at + size));
    at += size;
    if (++n % paintEvery === 0) renderer.paint();
  }
  renderer.finish();
  return box.innerHTML;
}

function oneShot(text: string): string {
  const box = newDocument().createElement("div");
  renderMarkdown(text, box);
  return box.innerHTML;
}

describe("incremental renderer", () => {
  it("equals a one-shot render for every prefix cut, painting after each piece", () => {
    const text = SAMPLE;
    const expected = oneShot(text);
    for (let cut = 0; cut <= text.length; cut++) {
      const doc = newDocument();
      const box = doc.createElement("div");
      const renderer = new IncrementalRenderer(box, { schedule: () => {} });
      renderer.append(text.slice(0, cut));
      renderer.paint();
      renderer.append(text.slice(cut));
      renderer.paint();
      renderer.finish();
      assert.equal(box.innerHTML, expected, `cut at ${cut}`);
    }
  });

  it("equals a one-shot render of every prefix, streamed in 1–4 character pieces", () => {
    const text = SAMPLE;
    for (let end = 0; end <= text.length; end += 13) {
      const prefix = text.slice(0, end);
      assert.equal(streamed(prefix, [1, 3, 2, 4]), oneShot(prefix), `prefix of ${end}`);
    }
  });

  it("equals a one-shot render for random chunkings and paint rates", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 30; round++) {
      const sizes = Array.from({ length: 9 }, () => 1 + Math.floor(random() * 12));
      const every = 1 + Math.floor(random() * 4);
      assert.equal(streamed(SAMPLE, sizes, every), oneShot(SAMPLE), `sizes ${sizes} every ${every}`);
    }
  });

  it("never touches a committed block again", () => {
    const box = newDocument().createElement("div");
    const renderer = new IncrementalRenderer(box, { schedule: () => {} });
    renderer.append("# Head\n\nfirst paragraph\n\n");
    renderer.paint();
    renderer.append("second");
    renderer.paint();
    const head = box.firstElementChild;
    assert.equal(head?.tagName, "H1");
    for (const piece of [" grows", " more\n\n", "third\n\n", "```js\nlet a = 1;\n```\n"]) {
      renderer.append(piece);
      renderer.paint();
      assert.equal(box.firstElementChild, head);
    }
    renderer.finish();
    assert.equal(box.firstElementChild, head);
  });

  it("highlights code only once its block is complete", () => {
    const box = newDocument().createElement("div");
    const renderer = new IncrementalRenderer(box, { schedule: () => {} });
    renderer.append("```python\ndef f():\n    return 1\n");
    renderer.paint();
    assert.equal(box.querySelector(".hljs-keyword"), null);
    assert.match(box.textContent ?? "", /def f/);
    renderer.append("```\n\nafter\n");
    renderer.paint();
    assert.equal(box.querySelector("code.language-python .hljs-keyword")?.textContent, "def");
  });

  it("paints at most once per frame however many pieces arrive", () => {
    const box = newDocument().createElement("div");
    const frames: (() => void)[] = [];
    let paints = 0;
    const renderer = new IncrementalRenderer(box, {
      schedule: (paint) => frames.push(paint),
      onPaint: () => paints++,
    });
    for (let i = 0; i < 500; i++) renderer.append("word ");
    assert.equal(frames.length, 1);
    frames.shift()!();
    assert.equal(paints, 1);
    assert.match(box.textContent ?? "", /word word/);
  });

  it("shows an unclosed emphasis, code span or table header sensibly while it grows", () => {
    assert.equal(closeDangling("some **bold"), "some **bold**");
    assert.equal(closeDangling("a `span"), "a `span`");
    assert.equal(closeDangling("```\n**x"), "```\n**x");
    assert.equal(closeDangling("done **x**"), "done **x**");
    assert.equal(closeDangling("intro\n\n| a | b |"), "intro\n\n| a | b |\n| --- | --- |\n");
    assert.equal(closeDangling("| a | b |\n|--"), "| a | b |\n| --- | --- |\n");
    assert.equal(closeDangling("| a | b |\n|--|--|\n| 1 |"), "| a | b |\n|--|--|\n| 1 |");
    const box = newDocument().createElement("div");
    const renderer = new IncrementalRenderer(box, { schedule: () => {} });
    renderer.append("very **important");
    renderer.paint();
    assert.equal(box.querySelector("strong")?.textContent, "important");
    renderer.append("**\n\n| name | size |\n|:-");
    renderer.paint();
    assert.equal(box.querySelector("table th")?.textContent, "name");
    renderer.finish();
    assert.equal(box.querySelector("table"), null); // the final text has no table: none is left
  });

  it("keeps Chinese and emoji split across pieces whole", () => {
    const text = "你好，世界！🌍👩‍💻 done";
    assert.equal(streamed(text, [1, 2, 3]), "<p>你好，世界！🌍👩‍💻 done</p>\n");
  });
});

describe("safety", () => {
  const render = (text: string) => oneShot(text);

  it("shows raw HTML as text", () => {
    const html = render('<img src=x onerror="alert(1)">\n\n<script>alert(1)</script>\n\n<div onclick="x">d</div>');
    assert.doesNotMatch(html, /<img|<script|<div/);
    assert.match(html, /&lt;script&gt;/);
  });

  it("keeps only http, https and mailto links, opened safely", () => {
    const html = render(
      "[a](javascript:alert(1)) [b](data:text/html,x) [c](vbscript:x) [d](/relative) " +
        "[e](https://ok.example/) [f](mailto:me@example.com) [g](JaVaScRiPt:alert(1))",
    );
    assert.doesNotMatch(html, /href="(javascript|data|vbscript):|href="\/relative/i);
    assert.equal(html.match(/<a /g)?.length, 2);
    assert.match(html, /<a href="https:\/\/ok.example\/" rel="noopener noreferrer nofollow" target="_blank">e<\/a>/);
    assert.match(html, /href="mailto:me@example.com"/);
  });

  it("does not fetch remote images: a button loads them on demand", () => {
    const html = render("![cat](https://img.example/cat.png) ![x](javascript:alert(1))");
    assert.doesNotMatch(html, /<img/);
    assert.match(html, /<button type="button" class="tw-image" data-src="https:\/\/img.example\/cat.png"/);
  });

  it("uses classes, not inline styles, for table alignment", () => {
    const html = render("| a | b |\n|:-:|--:|\n| 1 | 2 |\n");
    assert.doesNotMatch(html, /style=/);
    assert.match(html, /class="tw-align-center"/);
  });
});
