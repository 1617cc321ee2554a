/**
 * The markdown dialect tokenwire renders, built on markdown-it: CommonMark plus GFM tables and
 * strikethrough, autolinked URLs, no raw HTML (shown as text), no reference-style links (a
 * definition at the end would change a block already shown), links only to http, https and
 * mailto, remote images as a button that loads them on demand, table alignment as classes (the
 * Content-Security-Policy allows no inline style), code highlighted by highlight.js.
 */

import hljs from "highlight.js/lib/common";
import MarkdownIt, { type Options } from "markdown-it";
import type Token from "markdown-it/lib/token.mjs";

export type Markdown = MarkdownIt;

const SAFE_LINK = /^(https?:|mailto:)/i;
const REMOTE_IMAGE = /^https?:/i;

export function isSafeLink(url: string): boolean {
  return SAFE_LINK.test(url.trim());
}

export function highlight(code: string, language: string): string {
  const lang = language.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (!lang || !hljs.getLanguage(lang)) return "";
  return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
}

export function createMarkdown(): Markdown {
  const md = new MarkdownIt({ html: false, linkify: true, typographer: false, highlight });
  md.disable(["reference"]);
  md.validateLink = isSafeLink;
  md.linkify.set({ fuzzyLink: false, fuzzyEmail: false });
  md.core.ruler.push("tokenwire_align_classes", (state) => {
    for (const token of state.tokens) alignAsClass(token);
  });

  md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
    const token = tokens[idx]!;
    token.attrSet("rel", "noopener noreferrer nofollow");
    token.attrSet("target", "_blank");
    return self.renderToken(tokens, idx, options);
  };

  md.renderer.rules.image = (tokens, idx) => {
    const token = tokens[idx]!;
    const src = token.attrGet("src") ?? "";
    const alt = token.children ? md.renderer.renderInlineAsText(token.children, md.options, {}) : "";
    const label = md.utils.escapeHtml(alt || "image");
    if (!REMOTE_IMAGE.test(src)) return `<span class="tw-image-blocked">[${label}]</span>`;
    let host = "";
    try {
      host = new URL(src).host;
    } catch {
      return `<span class="tw-image-blocked">[${label}]</span>`;
    }
    return (
      `<button type="button" class="tw-image" data-src="${md.utils.escapeHtml(src)}"` +
      ` data-alt="${md.utils.escapeHtml(alt)}">Show image: ${label}` +
      ` <span class="tw-image-host">(${md.utils.escapeHtml(host)})</span></button>`
    );
  };
  return md;
}

function alignAsClass(token: Token): void {
  const style = token.attrGet("style");
  if (style) {
    const match = /text-align:\s*(left|right|center)/.exec(style);
    token.attrs = (token.attrs ?? []).filter(([name]) => name !== "style");
    if (match) token.attrJoin("class", `tw-align-${match[1]}`);
  }
  for (const child of token.children ?? []) alignAsClass(child);
}

/** Render options with or without highlighting (the growing tail is not highlighted). */
export function renderOptions(md: Markdown, highlighted: boolean): Options {
  return { ...md.options, highlight: highlighted ? highlight : null };
}
