// Serve a scripted stream (a list of protocol events) to the real client over SSE, NDJSON or a
// fake WebSocket, each framed as the server frames it, the bytes cut into small pieces.
import { type StreamEvent, TokenwireClient } from "../client/index.js";

export type Wire = "sse" | "ndjson" | "websocket";
export const WIRES: Wire[] = ["sse", "ndjson", "websocket"];

type Json = Record<string, unknown>;

function chunked(text: string, size: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + size)); // splits UTF-8 characters on purpose
      at += size;
    },
  });
}

function sseBody(events: Json[]): string {
  return "retry: 10\n\n" +
    events.map((e) => `id: ${String(e.seq)}\nevent: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join("");
}

/** A WebSocket that answers every `chat` frame with the script, as the server's frames. */
class FakeWebSocket {
  static readonly OPEN = 1;
  static script: Json[] = [];
  static sent: Json[] = [];
  readyState = 0;
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: unknown) => void) | null = null;
  constructor(readonly url: string) {
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  send(data: string): void {
    const frame = JSON.parse(data) as Json;
    FakeWebSocket.sent.push(frame);
    queueMicrotask(() => {
      for (const event of FakeWebSocket.script) {
        const out = { ...event, stream_id: "s1", ...(event.type === "start" ? { ref: frame.ref } : {}) };
        this.onmessage?.({ data: JSON.stringify(out) });
      }
    });
  }
  close(): void {
    this.readyState = 3;
  }
}

export interface Served {
  client: TokenwireClient;
  /** The request bodies (fetch) or client frames (WebSocket) the client sent. */
  sent: Json[];
}

/** A client whose every chat or resume reads `events` over `wire`. */
export function serve(wire: Wire, events: Json[], chunkSize = 5): Served {
  const sent: Json[] = [];
  const options = { baseUrl: "http://server", retryMs: 1, maxDelayMs: 5, giveUpAfterMs: 500 };
  if (wire === "websocket") {
    FakeWebSocket.script = events;
    FakeWebSocket.sent = sent;
    (globalThis as { WebSocket?: unknown }).WebSocket = FakeWebSocket;
    return { client: new TokenwireClient({ ...options, transport: "websocket" }), sent };
  }
  const body = wire === "sse" ? sseBody(events) : events.map((e) => JSON.stringify(e) + "\n").join("");
  const client = new TokenwireClient({
    ...options,
    transport: wire,
    fetch: async (_url, init) => {
      if (typeof init?.body === "string") sent.push(JSON.parse(init.body) as Json);
      return new Response(chunked(body, chunkSize), { headers: { "X-Stream-Id": "s1" } });
    },
  });
  return { client, sent };
}

/** Every event the client delivers for one chat, and how the stream ended. */
export async function collect(served: Served): Promise<{ events: StreamEvent[]; end: string }> {
  const events: StreamEvent[] = [];
  const stream = served.client.chat({ message: "hi" }, { onEvent: (e) => events.push(e) });
  const end = await stream.finished.then(
    (t) => t.type,
    (e: { code?: string }) => `failed: ${e.code ?? String(e)}`,
  );
  served.client.close();
  return { events, end };
}

export const START = {
  type: "start", seq: 1, stream_id: "s1", conversation_id: "c1", message_id: "m1", model: "x",
};
