import { useEffect, useRef, useState } from "react";
import type { ChatStream, StreamEvent, TokenwireClient } from "tokenwire-web/client";
import { IncrementalRenderer, loadImagesOnClick } from "tokenwire-web/render";
import "tokenwire-web/render.css";

type State = "idle" | "streaming" | "done" | "cancelled" | "error";

/**
 * A text box, Send, Stop, and the answer streaming in as markdown. The answer's element belongs to
 * tokenwire's renderer (React renders it empty and never touches its children): it paints at most
 * once per frame, highlights finished code blocks and sanitizes everything.
 */
export function Chat({ client, model }: { client: TokenwireClient; model?: string }) {
  const [prompt, setPrompt] = useState("");
  const answer = useRef<HTMLDivElement>(null);
  const renderer = useRef<IncrementalRenderer | null>(null);
  const [state, setState] = useState<State>("idle");
  const [error, setError] = useState("");
  const stream = useRef<ChatStream | null>(null);
  const [conversationId, setConversationId] = useState<string | undefined>(undefined);
  const stopRequested = useRef(false);
  useEffect(() => loadImagesOnClick(answer.current!), []); // remote images load on a click only

  function onEvent(event: StreamEvent): void {
    switch (event.type) {
      case "start":
        setConversationId(event.conversation_id);
        if (stopRequested.current) void stop(); // Stop pressed before the stream had an id
        break;
      case "delta":
        renderer.current?.append(event.text);
        break;
      case "done":
        renderer.current?.finish();
        setState(event.finish_reason === "cancelled" ? "cancelled" : "done");
        break;
      case "error":
        renderer.current?.finish();
        setError(`${event.message} (${event.code})`);
        setState("error");
        break;
    }
  }

  async function send(): Promise<void> {
    const message = prompt.trim();
    if (!message || state === "streaming") return;
    answer.current!.replaceChildren();
    renderer.current = new IncrementalRenderer(answer.current!);
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
      renderer.current?.finish();
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
      <div
        id="answer"
        ref={answer}
        className="tw-markdown"
        data-state={state}
        data-conversation={conversationId}
      />
      {error && (
        <p id="error" role="alert" style={{ color: "crimson" }}>
          {error}
        </p>
      )}
    </main>
  );
}
