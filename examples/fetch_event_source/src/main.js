// A tokenwire answer streamed with @microsoft/fetch-event-source, with the library's three traps
// handled:
// - it re-sends its request after any error, and against POST /api/chat that starts a second
//   answer: the POST is made once (onerror always throws there), and a dropped answer is read
//   again with GET /api/streams/{id} and Last-Event-ID, which the library may retry freely;
// - by default it aborts the request when the tab is hidden and re-sends it when the tab is shown
//   again (the same second answer): openWhenHidden: true;
// - by default onerror retries everything forever: here it decides, from what failed, whether to
//   resume (a network drop, a 5xx, a 429) or give up (a 4xx, a POST that never said its stream).
// Query: ?server=/prefix (where tokenwire is mounted; "" for this origin) &model=<id>.
import { fetchEventSource } from "@microsoft/fetch-event-source";

const query = new URLSearchParams(location.search);
const server = (query.get("server") ?? "").replace(/\/$/, "");
const model = query.get("model") || undefined;
const GIVE_UP_AFTER = 8; // failed resumes in a row

const $ = (id) => document.getElementById(id);
const answer = $("answer");

/** An error that ends the answer; every other error thrown in onopen/onmessage is a drop. */
class Final extends Error {}

/** Reads a non-2xx answer's JSON error ({"error": {"code", "message"}}) into a Final. */
async function finalFrom(response) {
  let code = `http_${response.status}`;
  let message = response.statusText;
  try {
    const body = await response.json();
    ({ code, message } = body.error);
  } catch {
    // not JSON: keep the status
  }
  return new Final(`${code}: ${message}`);
}

function setState(state) {
  answer.dataset.state = state;
  $("send").disabled = state === "streaming" || state === "reconnecting";
}

async function ask(message, conversationId) {
  const stream = { id: null, lastSeq: 0, ended: false };
  answer.textContent = "";
  $("error").hidden = true;
  setState("streaming");

  const handlers = {
    openWhenHidden: true, // never abort and re-send when the tab is hidden and shown again
    onmessage(message) {
      if (!message.event) return; // a comment or a bare retry: line
      const event = JSON.parse(message.data);
      if (event.seq <= stream.lastSeq) return; // already shown (an overlapping resume)
      stream.lastSeq = event.seq;
      if (event.type === "start") {
        stream.id = event.stream_id;
        answer.dataset.stream = event.stream_id;
        answer.dataset.conversation = event.conversation_id;
      } else if (event.type === "delta") {
        answer.append(event.text);
      } else if (event.type === "done") {
        stream.ended = true;
        setState(event.finish_reason === "cancelled" ? "cancelled" : "done");
      } else if (event.type === "error") {
        stream.ended = true;
        showError(`${event.code}: ${event.message}`);
      }
    },
    onclose() {
      // The server closes a stream only after its terminal event: any other end is a drop.
      if (!stream.ended) throw new Error("the stream ended before its terminal event");
    },
  };

  // 1. The POST, exactly once.
  try {
    await fetchEventSource(`${server}/api/chat`, {
      ...handlers,
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message, conversation_id: conversationId, model }),
      async onopen(response) {
        if (!response.ok) throw await finalFrom(response);
        stream.id = response.headers.get("X-Stream-Id");
      },
      onerror(error) {
        throw error; // never let the library POST again
      },
    });
  } catch (error) {
    if (error instanceof Final) return showError(error.message);
    if (!stream.id) return showError(`not_started: ${error.message}; the question was not re-sent`);
  }
  if (stream.ended) return;

  // 2. Resume after a drop: GET the stream after the last seq shown; the library retries this
  // one, and sends Last-Event-ID itself from the ids it has read.
  setState("reconnecting");
  let failures = 0;
  try {
    await fetchEventSource(`${server}/api/streams/${encodeURIComponent(stream.id)}`, {
      ...handlers,
      // Lower case: the library keeps the latest id under this key, and two spellings of one
      // header would be sent joined ("3, 5").
      headers: { "last-event-id": String(stream.lastSeq) },
      async onopen(response) {
        if (response.status === 204) {
          stream.ended = true; // nothing after our seq: we have it all
          return;
        }
        if (response.status >= 400 && response.status < 500 && response.status !== 429) {
          throw await finalFrom(response); // 404: the stream expired; 400: a bad resume point
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`); // 5xx, 429: try again
        failures = 0;
        setState("streaming");
      },
      onerror(error) {
        if (error instanceof Final) throw error;
        failures += 1;
        if (failures > GIVE_UP_AFTER) throw new Final(`disconnected: ${error.message}`);
        setState("reconnecting");
        // Exponential backoff with jitter, from the server's retry: (1 s) up to 30 s.
        const base = Math.min(1000 * 2 ** (failures - 1), 30_000);
        return base / 2 + Math.random() * (base / 2);
      },
    });
  } catch (error) {
    showError(error.message);
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  setState("error");
}

$("send").addEventListener("click", () => {
  const message = $("prompt").value.trim();
  if (message) void ask(message, answer.dataset.conversation);
});
