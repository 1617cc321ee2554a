/**
 * A plain `EventSource` on `GET /api/streams/{id}`. An EventSource cannot POST, so a chat starts
 * with a `fetch` POST that is dropped once its headers name the stream (disconnect is not stop),
 * and the EventSource reads it from there. It cannot send headers either: with a token it relies on
 * the session cookie, and the resume point goes in `after`. Keepalive comments are invisible to it.
 */

import { Channel, type Connection, wireItem } from "./channel.js";
import { ConnectionLost, errorFromResponse, TokenwireError } from "./errors.js";
import { EVENT_TYPES } from "./events.js";
import { asFailure } from "./fetch-transport.js";
import {
  apiUrl,
  authHeaders,
  type ChatRequest,
  type Transport,
  type TransportOptions,
} from "./transport.js";

export class EventSourceTransport implements Transport {
  readonly name = "eventsource" as const;

  constructor(private readonly options: TransportOptions) {}

  start(request: ChatRequest): Connection {
    const channel = new Channel();
    const abort = new AbortController();
    channel.whenClosed(() => abort.abort());
    void (async () => {
      try {
        const response = await this.options.fetch(apiUrl(this.options, "/api/chat"), {
          method: "POST",
          headers: { "Content-Type": "application/json", ...authHeaders(this.options) },
          body: JSON.stringify(request),
          signal: abort.signal,
        });
        if (!response.ok) throw await errorFromResponse(response);
        const streamId = response.headers.get("X-Stream-Id");
        abort.abort(); // the generation goes on without this request
        if (!streamId) throw new TokenwireError("protocol_error", "no X-Stream-Id header");
        channel.push({ kind: "stream", streamId });
        await this.options.ensureSession();
        this.listen(streamId, 0, channel);
      } catch (error) {
        channel.fail(asFailure(error));
      }
    })();
    return channel;
  }

  resume(streamId: string, after: number): Connection {
    const channel = new Channel();
    this.options.ensureSession().then(
      () => this.listen(streamId, after, channel),
      (error: unknown) => channel.fail(asFailure(error)),
    );
    return channel;
  }

  close(): void {}

  private listen(streamId: string, after: number, channel: Channel): void {
    const source = new EventSource(
      apiUrl(this.options, `/api/streams/${encodeURIComponent(streamId)}`, { after: String(after) }),
      { withCredentials: true },
    );
    channel.whenClosed(() => source.close());
    const onMessage = (message: MessageEvent<string>): void => {
      let value: unknown = null;
      try {
        value = JSON.parse(message.data);
      } catch {
        // not an event: ignore it as the protocol asks
      }
      channel.push(wireItem(value));
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (e) => {
        // The server's `event: error` and the EventSource's own failure share a name.
        if (e instanceof MessageEvent) onMessage(e as MessageEvent<string>);
        else onFailure();
      });
    }
    const onFailure = (): void => {
      // CLOSED: the answer was not a stream (204, 4xx): the EventSource gives up, and so do we.
      // CONNECTING: the network dropped; our own loop resumes, with its own backoff.
      const closed = source.readyState === EventSource.CLOSED;
      source.close();
      channel.fail(
        closed
          ? new TokenwireError("stream_unavailable", "the stream can no longer be read")
          : new ConnectionLost("the EventSource lost its connection"),
      );
    };
  }
}

