// What an Electron main process does with a tokenwire answer: read it with the JS client (under
// Node: fetch and web streams, SSE by default) and forward each event to the renderer, the way
// `win.webContents.send(channel, payload)` does; when the window closes, cancel the answer on the
// server, or the model would go on generating (and billing) for nobody.
//
//   ipcMain.on("ask", (_e, question) => {
//     forwardAnswer(client, { message: question }, {
//       send: (channel, payload) => win.webContents.send(channel, payload),
//       onClose: (cancel) => win.once("closed", cancel),
//     });
//   });
//
// Only the JSON-safe event objects cross the IPC boundary, never the stream itself.
import { TokenwireClient } from "../../web/dist/client/index.js";

export { TokenwireClient };

/**
 * Start an answer and forward its events through `send("tokenwire:event", event)`, its state
 * changes through `send("tokenwire:status", status)`. `onClose(cancel)` is given the function to
 * call when the window goes away (it may come before the stream's id is known). Resolves with the
 * terminal event; rejects with a final error.
 */
export function forwardAnswer(client, request, { send, onClose }) {
  let closed = false;
  let cancelling = null;
  const cancel = () => {
    closed = true; // the renderer is gone: send it nothing more
    if (stream.streamId && !cancelling) cancelling = client.cancel(stream.streamId);
  };
  const stream = client.chat(request, {
    onEvent(event) {
      if (event.type === "start" && closed) cancel(); // closed before the id was known
      if (!closed) send("tokenwire:event", event);
    },
    onStatus(status) {
      if (!closed) send("tokenwire:status", { state: status.state });
    },
  });
  onClose?.(cancel);
  return stream.finished;
}
