/** tokenwire's incremental markdown renderer. */

export { stableCut } from "./blocks.js";
export {
  closeDangling,
  IncrementalRenderer,
  type RendererOptions,
  renderMarkdown,
} from "./incremental.js";
export { createMarkdown, highlight, isSafeLink } from "./markdown.js";
export { sanitizedFragment } from "./sanitize.js";
