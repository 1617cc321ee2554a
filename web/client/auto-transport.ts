/**
 * The default transport: one WebSocket for every stream of the page, and SSE over `fetch` where
 * WebSockets cannot get through (a proxy that refuses the upgrade). The choice is made once, when
 * the first socket fails to open; a socket that opened before and then dropped is a network
 * problem, which the stream loop's resume handles, not a reason to switch.
 */

import { Channel, type Connection } from "./channel.js";
import type { FetchTransport } from "./fetch-transport.js";
import type { ChatRequest, Transport } from "./transport.js";
import type { WebSocketTransport } from "./websocket-transport.js";

export class AutoTransport implements Transport {
  private fallback = false;

  constructor(
    private readonly ws: WebSocketTransport,
    private readonly sse: FetchTransport,
  ) {}

  get name(): "websocket" | "sse" {
    return this.fallback ? "sse" : "websocket";
  }

  start(request: ChatRequest): Connection {
    return this.pick((t) => t.start(request));
  }

  resume(streamId: string, after: number): Connection {
    return this.pick((t) => t.resume(streamId, after));
  }

  close(): void {
    this.ws.close();
  }

  private pick(open: (transport: Transport) => Connection): Connection {
    if (this.fallback) return open(this.sse);
    if (this.ws.everOpened) return open(this.ws);
    const outer = new Channel();
    void this.ws.ready().then(
      () => undefined,
      () => {
        if (!this.ws.everOpened) this.fallback = true;
      },
    ).then(() => {
      if (!outer.closed) void outer.pipeFrom(open(this.fallback ? this.sse : this.ws));
    });
    return outer;
  }
}
