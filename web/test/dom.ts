// A DOM for the renderer's unit tests (the browser tests use the real Chromium).
import { JSDOM } from "jsdom";

export function newDocument(): Document {
  return new JSDOM("<!doctype html><body></body>").window.document;
}
