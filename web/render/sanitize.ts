/** DOMPurify over every piece of HTML before it reaches the page: the model's text is untrusted. */

import createDOMPurify, { type Config, type DOMPurify } from "dompurify";

import { isSafeLink } from "./markdown.js";

const purifiers = new WeakMap<object, DOMPurify>();

const CONFIG: Config & { RETURN_DOM_FRAGMENT: true } = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "button", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
  ],
  ALLOWED_ATTR: ["href", "rel", "target", "class", "start", "type", "data-src", "data-alt", "title"],
  ALLOW_DATA_ATTR: false,
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  // DOMPurify holds every other attribute to the URI pattern too; these carry no URL.
  ADD_URI_SAFE_ATTR: ["type", "data-alt", "title", "start"],
  RETURN_DOM_FRAGMENT: true,
};

function purifier(win: Window & typeof globalThis): DOMPurify {
  let purify = purifiers.get(win);
  if (!purify) {
    purify = createDOMPurify(win);
    purify.addHook("afterSanitizeAttributes", (node) => {
      if (node.nodeName === "A") {
        const href = node.getAttribute("href");
        if (href === null || !isSafeLink(href)) node.removeAttribute("href");
        node.setAttribute("rel", "noopener noreferrer nofollow");
        node.setAttribute("target", "_blank");
      }
    });
    purifiers.set(win, purify);
  }
  return purify;
}

/** Sanitize `html` into a fragment owned by `doc`. */
export function sanitizedFragment(html: string, doc: Document): DocumentFragment {
  const win = doc.defaultView as (Window & typeof globalThis) | null;
  if (!win) throw new Error("the document has no window");
  return purifier(win).sanitize(html, CONFIG);
}
