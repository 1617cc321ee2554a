import { useRef, useState } from "react";
import type { ChatStream, StreamEvent, TokenwireClient } from "tokenwire-web/client";

type State = "idle" | "streaming" | "done" | "cancelled" | "error";

/** A text box, Send, Stop, and the answer streaming in as plain text (React escapes it). */
export function Chat({ client, model }: { client: TokenwireClient; model?: string }) {
  const [prompt, setPrompt] = useState("");
  const [answer, setAnswer] = useState("");
  const [state, setState] = useState<State>("idle");
  const [error, setError] = useState("");
  const stream = useRef<ChatStream | null>(null);
  const [conversationId, setConversationId] = useState<string | undefined>(undefined);
  const stopRequested = useRef(false);

  function onEvent(event: StreamEvent): void {
    switch (event.type) {
      case "start":
        setConversationId(event.conversation_id);
        if (stopRequested.current) void stop(); // Stop pressed before the stream had an id
        break;
      case "delta":
        setAnswer((text) => text + event.text);
        break;
      case "done":
        setState(event.finish_reason === "cancelled" ? "cancelled" : "done");
        break;
      case "error":
        setError(`${event.message} (${event.code})`);
        setState("error");
        break;
    }
  }

  async function send(): Promise<void> {
    const message = prompt.trim();
    if (!message || state === "streaming") return;
    setAnswer("");
    setError("");
    setState("streaming");
    stopRequested.current = false;
    const current = client.chat(
      { message, model, conversation_id: conversationId },
      { onEvent },
    );
    stream.current = current;
    try {
      await current.finished;
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setState("error");
    }
  }

  async function stop(): Promise<void> {
    stopRequested.current = true;
    const id = stream.current?.streamId;
    if (!id) return; // cancelled as soon as the start event names the stream
    try {
      await client.cancel(id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  return (
    <main style={{ maxWidth: "40rem", margin: "2rem auto", fontFamily: "system-ui, sans-serif" }}>
      <h1>tokenwire × React</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          id="prompt"
          rows={3}
          style={{ width: "100%" }}
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          placeholder="Ask something"
        />
        <button id="send" type="submit" disabled={state === "streaming" || !prompt.trim()}>
          Send
        </button>{" "}
        <button id="stop" type="button" disabled={state !== "streaming"} onClick={() => void stop()}>
          Stop
        </button>
      </form>
      <pre
        id="answer"
        data-state={state}
        data-conversation={conversationId}
        style={{ whiteSpace: "pre-wrap" }}
      >
        {answer}
      </pre>
      {error && (
        <p id="error" role="alert" style={{ color: "crimson" }}>
          {error}
        </p>
      )}
    </main>
  );
}
