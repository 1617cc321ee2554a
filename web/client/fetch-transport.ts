/** SSE and NDJSON over `fetch`: POST with headers and an AbortSignal, streamed through TextDecoder. */

import { Channel, type Connection, wireItem } from "./channel.js";
import { ConnectionLost, errorFromResponse, TokenwireError } from "./errors.js";
import { NdjsonDecoder } from "./ndjson.js";
import { SseParser } from "./sse.js";
import {
  apiUrl,
  authHeaders,
  type ChatRequest,
  type Transport,
  type TransportOptions,
} from "./transport.js";

type Format = "sse" | "ndjson";

const ACCEPT: Record<Format, string> = {
  sse: "text/event-stream",
  ndjson: "application/x-ndjson",
};

export class FetchTransport implements Transport {
  readonly name: "sse" | "ndjson";

  constructor(
    private readonly options: TransportOptions,
    private readonly format: Format,
  ) {
    this.name = format;
  }

  start(request: ChatRequest): Connection {
    return this.open(apiUrl(this.options, "/api/chat"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
  }

  resume(streamId: string, after: number): Connection {
    return this.open(apiUrl(this.options, `/api/streams/${encodeURIComponent(streamId)}`), {
      method: "GET",
      headers: { "Last-Event-ID": String(after) },
    });
  }

  close(): void {}

  private open(url: string, init: RequestInit & { headers: Record<string, string> }): Connection {
    const channel = new Channel();
    const abort = new AbortController();
    channel.whenClosed(() => abort.abort());
    const headers = { ...init.headers, Accept: ACCEPT[this.format], ...authHeaders(this.options) };
    void this.pump(url, { ...init, headers, signal: abort.signal, cache: "no-store" }, channel);
    return channel;
  }

  private async pump(url: string, init: RequestInit, channel: Channel): Promise<void> {
    try {
      const response = await this.options.fetch(url, init);
      if (response.status === 204) {
        throw new TokenwireError("stream_ended", "the stream has nothing more to send", 204);
      }
      if (!response.ok) throw await errorFromResponse(response);
      const streamId = response.headers.get("X-Stream-Id");
      if (streamId) channel.push({ kind: "stream", streamId });
      if (!response.body) throw new ConnectionLost("the response has no body");
      const feed = this.format === "sse" ? sseFeed(channel) : ndjsonFeed(channel);
      const decoder = new TextDecoder(); // stream mode keeps a split UTF-8 character for later
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        feed(decoder.decode(value, { stream: true }));
      }
      feed(decoder.decode(), true);
      channel.end();
    } catch (error) {
      channel.fail(asFailure(error));
    }
  }
}

function sseFeed(channel: Channel): (text: string, last?: boolean) => void {
  const parser = new SseParser({
    message(message) {
      channel.push(wireItem(safeParse(message.data)));
    },
    comment() {
      channel.push({ kind: "alive" }); // `: keepalive` is a sign of life
    },
    retry(ms) {
      channel.push({ kind: "retry", ms });
    },
  });
  return (text) => parser.feed(text);
}

function ndjsonFeed(channel: Channel): (text: string, last?: boolean) => void {
  const decoder = new NdjsonDecoder();
  return (text, last) => {
    let values: unknown[];
    try {
      values = last ? [...decoder.decode(text), ...decoder.flush()] : decoder.decode(text);
    } catch {
      throw new ConnectionLost("a line of the stream is not JSON");
    }
    for (const value of values) channel.push(wireItem(value));
  };
}

function safeParse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

/** Anything that is not a final TokenwireError (a TypeError from fetch, an abort…) is retryable. */
export function asFailure(error: unknown): Error {
  if (error instanceof TokenwireError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionLost(`the connection failed: ${message}`);
}
