// The smallest tokenwire page: no library, no build. EventSource cannot POST, so the question goes
// out with fetch, which is dropped as soon as the answer's stream id arrives (a dropped connection
// never stops a tokenwire answer); the browser's own EventSource then reads the stream, and after a
// cut it reconnects by itself with Last-Event-ID.
// Query: ?server=/prefix (where tokenwire is mounted; "" for this origin) &model=<id>.
const query = new URLSearchParams(location.search);
const server = (query.get("server") ?? "").replace(/\/$/, "");
const model = query.get("model") || undefined;

const answer = document.getElementById("answer");
const errorLine = document.getElementById("error");
const send = document.getElementById("send");

function setState(state) {
  answer.dataset.state = state;
  send.disabled = state === "streaming" || state === "reconnecting";
}

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = false;
  setState("error");
}

async function startAnswer(message) {
  const abort = new AbortController();
  const response = await fetch(`${server}/api/chat`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ message, conversation_id: answer.dataset.conversation, model }),
    signal: abort.signal,
  });
  if (!response.ok) {
    const { error } = await response.json(); // {"error": {"code", "message"}}
    throw new Error(`${error.code}: ${error.message}`);
  }
  abort.abort(); // the headers name the stream; EventSource reads it
  return response.headers.get("X-Stream-Id");
}

function read(streamId) {
  const source = new EventSource(`${server}/api/streams/${encodeURIComponent(streamId)}`);
  let ended = false;
  const data = (e) => JSON.parse(e.data);
  // Each event arrives under its own name, not as "message".
  source.addEventListener("open", () => {
    answer.dataset.opens = String(Number(answer.dataset.opens ?? 0) + 1);
    setState("streaming");
  });
  source.addEventListener("start", (e) => {
    answer.dataset.conversation = data(e).conversation_id;
  });
  source.addEventListener("delta", (e) => answer.append(data(e).text));
  source.addEventListener("done", (e) => {
    ended = true;
    source.close(); // or the browser would reconnect to a finished stream
    setState(data(e).finish_reason === "cancelled" ? "cancelled" : "done");
  });
  // "error" is two things: tokenwire's terminal error event (a MessageEvent with data), and the
  // browser's own signal that the connection failed (a plain Event).
  source.addEventListener("error", (e) => {
    if (e instanceof MessageEvent) {
      ended = true;
      source.close();
      const { code, message } = data(e);
      return showError(`${code}: ${message}`);
    }
    if (ended) return;
    if (source.readyState === EventSource.CONNECTING) return setState("reconnecting");
    showError("stream_unavailable: the stream cannot be read"); // closed by the browser: a 4xx
  });
}

send.addEventListener("click", async () => {
  const message = document.getElementById("prompt").value.trim();
  if (!message) return;
  answer.textContent = "";
  errorLine.hidden = true;
  setState("streaming");
  try {
    read(await startAnswer(message));
  } catch (error) {
    showError(error.message);
  }
});
