/**
 * tokenwire's incremental markdown renderer: the `tokenwire-web/render` package export.
 *
 * `IncrementalRenderer` takes an answer in pieces of any size and paints at most once per animation
 * frame; finished blocks are rendered, highlighted and sanitized once and never touched again.
 * `renderMarkdown` renders a whole text at once (a stored answer), with the same result. The model's
 * text is untrusted: raw HTML shows as text, links are limited to http, https and mailto, and remote
 * images are buttons that `loadImagesOnClick` turns into images when the reader clicks.
 * Styles: `tokenwire-web/render.css`, for a container with the class `tw-markdown`.
 */

export { loadImagesOnClick } from "./images.js";
export { IncrementalRenderer, type RendererOptions, renderMarkdown } from "./incremental.js";
