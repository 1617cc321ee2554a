// The seed's EventSource page, with its traps handled:
// - the protocol has an event named `error`, and so does EventSource itself (a dropped
//   connection): a MessageEvent with data is the model's error, a plain Event is the network's;
// - EventSource reconnects whenever the response ends, so the page closes it on the terminal
//   event (and the server answers a reconnect, which carries Last-Event-ID, with 204);
// - text goes in with textContent, never innerHTML: the model's output is untrusted.
const form = document.getElementById("ask");
const input = document.getElementById("message");
const send = document.getElementById("send");
const answer = document.getElementById("answer");
const reasoning = document.getElementById("reasoning");
const status = document.getElementById("status");

function finish(state, source) {
  source.close();
  status.textContent = state;
  send.disabled = false;
}

form.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  answer.textContent = "";
  reasoning.textContent = "";
  status.textContent = "streaming";
  send.disabled = true;
  const source = new EventSource("/api/chat/stream?" + new URLSearchParams({ message: input.value }));
  source.addEventListener("delta", (e) => { answer.textContent += JSON.parse(e.data).text; });
  source.addEventListener("reasoning", (e) => { reasoning.textContent += JSON.parse(e.data).text; });
  source.addEventListener("done", (e) => finish("done: " + JSON.parse(e.data).finish_reason, source));
  source.addEventListener("error", (e) => {
    if (e instanceof MessageEvent && e.data) {
      const error = JSON.parse(e.data);
      finish("error: " + error.code + ": " + error.message, source);
    } else if (source.readyState === EventSource.CLOSED) {
      finish("error: connection lost (this Flask app cannot resume; tokenwire serve can)", source);
    }
  });
});
