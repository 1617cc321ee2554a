/**
 * The frames of one multiplexed carrier (a WebSocket, or the desktop window's QWebChannel bridge)
 * routed to the connections reading them: by `ref` until a stream's `start` names its id, then by
 * stream id. The carrier only sends client frames and hands over what it receives.
 */

import { Channel, type Connection, wireItem } from "./channel.js";
import { ConnectionLost, TokenwireError } from "./errors.js";
import type { ChatRequest } from "./transport.js";

interface Frame {
  type?: unknown;
  stream_id?: unknown;
  ref?: unknown;
  error?: { code?: unknown; message?: unknown };
}

export class FrameRouter {
  private readonly byStream = new Map<string, Channel>();
  private readonly byRef = new Map<string, Channel>();
  private nextRef = 0;

  /** `send` delivers one client frame, or fails the connection it belongs to. */
  constructor(private readonly send: (channel: Channel, frame: Record<string, unknown>) => void) {}

  start(request: ChatRequest): Connection {
    const channel = new Channel();
    const ref = this.register(channel);
    this.send(channel, { type: "chat", ...request, ref });
    return channel;
  }

  resume(streamId: string, after: number): Connection {
    const channel = new Channel();
    const ref = this.register(channel);
    this.bind(streamId, channel);
    this.send(channel, { type: "resume", stream_id: streamId, after, ref });
    return channel;
  }

  /** Every stream on a closed carrier is lost until its reader resumes it on a new one. */
  dropAll(reason: string): void {
    const channels = new Set([...this.byRef.values(), ...this.byStream.values()]);
    this.byRef.clear();
    this.byStream.clear();
    for (const channel of channels) channel.fail(new ConnectionLost(reason));
  }

  /** One server frame, as JSON text or already parsed. */
  receive(data: unknown): void {
    let frame: Frame;
    if (typeof data === "string") {
      try {
        frame = JSON.parse(data) as Frame;
      } catch {
        return;
      }
    } else if (typeof data === "object" && data !== null) {
      frame = data as Frame;
    } else {
      return;
    }
    const ref = typeof frame.ref === "string" ? frame.ref : null;
    if (frame.type === "rejected") {
      const channel = ref ? this.byRef.get(ref) : undefined;
      channel?.fail(rejection(frame));
      return;
    }
    if (typeof frame.stream_id !== "string") return;
    if (ref && frame.type === "start") {
      const channel = this.byRef.get(ref);
      if (channel && !this.byStream.has(frame.stream_id)) {
        this.bind(frame.stream_id, channel);
        channel.push({ kind: "stream", streamId: frame.stream_id });
      }
    }
    const item = wireItem(frame);
    if (item.kind !== "alive") this.byStream.get(frame.stream_id)?.push(item);
  }

  private register(channel: Channel): string {
    const ref = `r${++this.nextRef}`;
    this.byRef.set(ref, channel);
    channel.whenClosed(() => {
      this.byRef.delete(ref);
      for (const [id, c] of this.byStream) if (c === channel) this.byStream.delete(id);
    });
    return ref;
  }

  private bind(streamId: string, channel: Channel): void {
    this.byStream.get(streamId)?.close();
    this.byStream.set(streamId, channel);
  }
}

function rejection(frame: Frame): TokenwireError {
  const code = typeof frame.error?.code === "string" ? frame.error.code : "rejected";
  const message = typeof frame.error?.message === "string" ? frame.error.message : code;
  if (code === "overloaded" || code === "internal_error" || code === "unavailable") {
    return new ConnectionLost(message);
  }
  // The status an HTTP request would have met, so callers handle both alike (401: sign in).
  return new TokenwireError(code, message, code === "unauthorized" ? 401 : undefined);
}
