/** DOMPurify over every piece of HTML before it reaches the page: the model's text is untrusted. */

import createDOMPurify, { type Config, type DOMPurify } from "dompurify";

import { isSafeLink } from "./markdown.js";

const CONFIG: Config = {
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
  IN_PLACE: true,
};

interface Purifier {
  purify: DOMPurify;
  /** An inert document (no scripts run, no images load) to parse untrusted HTML in. */
  inert: Document;
}

const purifiers = new WeakMap<object, Purifier>();

function purifier(win: Window & typeof globalThis): Purifier {
  let found = purifiers.get(win);
  if (!found) {
    const purify = createDOMPurify(win);
    // Parsed once here rather than on every call: sanitizing runs once per animation frame.
    purify.setConfig(CONFIG);
    purify.addHook("afterSanitizeAttributes", (node) => {
      if (node.nodeName === "A") {
        const href = node.getAttribute("href");
        if (href === null || !isSafeLink(href)) node.removeAttribute("href");
        node.setAttribute("rel", "noopener noreferrer nofollow");
        node.setAttribute("target", "_blank");
      }
    });
    found = { purify, inert: win.document.implementation.createHTMLDocument("") };
    purifiers.set(win, found);
  }
  return found;
}

/** Sanitize `html` into a fragment owned by `doc`. */
export function sanitizedFragment(html: string, doc: Document): DocumentFragment {
  const win = doc.defaultView as (Window & typeof globalThis) | null;
  if (!win) throw new Error("the document has no window");
  const { purify, inert } = purifier(win);
  // The root must be an allowed tag for DOMPurify's in-place mode; a blockquote holds any block.
  const holder = inert.createElement("blockquote");
  holder.innerHTML = html; // inert: nothing in it runs or loads
  purify.sanitize(holder);
  const fragment = doc.createDocumentFragment();
  fragment.append(...Array.from(holder.childNodes, (node) => doc.importNode(node, true)));
  return fragment;
}
