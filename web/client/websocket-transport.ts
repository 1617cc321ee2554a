/**
 * One WebSocket carries every stream of the page: browsers limit HTTP/1.1 to six connections per
 * origin, but not WebSockets, so eight tabs streaming at once never wait on each other. With a
 * token, the socket is authenticated by the session cookie (browsers cannot set its headers).
 */

import { Channel, type Connection } from "./channel.js";
import { ConnectionLost, TokenwireError } from "./errors.js";
import { asEvent } from "./events.js";
import { apiUrl, type ChatRequest, type Transport, type TransportOptions } from "./transport.js";

interface Frame {
  type?: unknown;
  stream_id?: unknown;
  ref?: unknown;
  error?: { code?: unknown; message?: unknown };
}

export class WebSocketTransport implements Transport {
  readonly name = "websocket" as const;
  private socket: WebSocket | null = null;
  private opening: Promise<WebSocket> | null = null;
  private readonly byStream = new Map<string, Channel>();
  private readonly byRef = new Map<string, Channel>();
  private nextRef = 0;
  /** Whether a socket has ever opened: if not, WebSockets may be blocked on the way. */
  everOpened = false;

  constructor(private readonly options: TransportOptions) {}

  start(request: ChatRequest): Connection {
    const channel = new Channel();
    const ref = this.register(channel);
    void this.send(channel, { type: "chat", ...request, ref });
    return channel;
  }

  resume(streamId: string, after: number): Connection {
    const channel = new Channel();
    const ref = this.register(channel);
    this.bind(streamId, channel);
    void this.send(channel, { type: "resume", stream_id: streamId, after, ref });
    return channel;
  }

  /** Resolves once a socket is open. */
  async ready(): Promise<void> {
    await this.connect();
  }

  close(): void {
    this.socket?.close(1000);
    this.socket = null;
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

  private async send(channel: Channel, frame: Record<string, unknown>): Promise<void> {
    try {
      const socket = await this.connect();
      socket.send(JSON.stringify(frame));
    } catch (error) {
      channel.fail(error instanceof Error ? error : new ConnectionLost(String(error)));
    }
  }

  private connect(): Promise<WebSocket> {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    if (this.opening) return this.opening;
    const url = new URL(apiUrl(this.options, "/api/ws"), globalThis.location?.href).href.replace(
      /^http/,
      "ws",
    );
    this.opening = this.options.ensureSession().then(() => this.open(url));
    this.opening.catch(() => (this.opening = null));
    return this.opening;
  }

  private open(url: string): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.onopen = () => {
        this.everOpened = true;
        this.socket = socket;
        this.opening = null;
        resolve(socket);
      };
      socket.onmessage = (message) => this.receive(message.data);
      socket.onclose = () => {
        if (this.opening) {
          this.opening = null;
          reject(new ConnectionLost("the WebSocket could not connect"));
        }
        if (this.socket === socket) this.socket = null;
        this.dropAll();
      };
    });
  }

  /** Every stream on a closed socket is lost until its reader resumes it on a new one. */
  private dropAll(): void {
    const channels = new Set([...this.byRef.values(), ...this.byStream.values()]);
    this.byRef.clear();
    this.byStream.clear();
    for (const channel of channels) channel.fail(new ConnectionLost("the WebSocket closed"));
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") return;
    let frame: Frame;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      return;
    }
    const ref = typeof frame.ref === "string" ? frame.ref : null;
    if (frame.type === "rejected") {
      const channel = ref ? this.byRef.get(ref) : undefined;
      const code = typeof frame.error?.code === "string" ? frame.error.code : "rejected";
      const message = typeof frame.error?.message === "string" ? frame.error.message : code;
      channel?.fail(
        code === "overloaded" || code === "internal_error"
          ? new ConnectionLost(message)
          : new TokenwireError(code, message),
      );
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
    const event = asEvent(frame);
    if (event) this.byStream.get(frame.stream_id)?.push({ kind: "event", event });
  }
}
