// A DOM for the renderer's and the app's unit tests (the browser tests use the real Chromium).
import { JSDOM } from "jsdom";

export function newDocument(): Document {
  return new JSDOM("<!doctype html><body></body>").window.document;
}

/** A fresh document as the global `document`, for code that builds elements with it (the app). */
export function installDocument(): Document {
  const doc = newDocument();
  (globalThis as { document?: Document }).document = doc;
  return doc;
}
