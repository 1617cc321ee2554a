// Uses both exports the way an app would; the test type-checks it, bundles it with Vite, and
// opens the bundle in Chromium against a tokenwire server (?server=<base URL>&model=<id>).
import { type StreamEvent, TokenwireClient } from "tokenwire-web/client";
import { IncrementalRenderer, loadImagesOnClick, type RendererOptions } from "tokenwire-web/render";
import "tokenwire-web/render.css";

const query = new URLSearchParams(location.search);
const box = document.getElementById("answer")!;
const options: RendererOptions = { onPaint: () => box.setAttribute("data-painted", "yes") };
const renderer = new IncrementalRenderer(box, options);
loadImagesOnClick(box);
const client = new TokenwireClient({ baseUrl: query.get("server") ?? "" });

function end(state: string): void {
  renderer.finish();
  box.setAttribute("data-state", state);
}
const onEvent = (e: StreamEvent): void => {
  if (e.type === "delta") renderer.append(e.text);
  else if (e.type === "done") end("done");
  else if (e.type === "error") end("error");
};
const model = query.get("model") ?? undefined;
void client.chat({ message: "Hello", model }, { onEvent }).finished.catch(() => end("error"));
