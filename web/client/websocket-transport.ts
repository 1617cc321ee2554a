/**
 * One WebSocket carries every stream of the page: browsers limit HTTP/1.1 to six connections per
 * origin, but not WebSockets, so eight tabs streaming at once never wait on each other. With a
 * token, the socket is authenticated by the session cookie (browsers cannot set its headers).
 */

import type { Channel, Connection } from "./channel.js";
import { ConnectionLost } from "./errors.js";
import { FrameRouter } from "./frame-router.js";
import { apiUrl, type ChatRequest, type Transport, type TransportOptions } from "./transport.js";

export class WebSocketTransport implements Transport {
  readonly name = "websocket" as const;
  private socket: WebSocket | null = null;
  private opening: Promise<WebSocket> | null = null;
  private readonly router = new FrameRouter((channel, frame) => void this.send(channel, frame));
  /** Whether a socket has ever opened: if not, WebSockets may be blocked on the way. */
  everOpened = false;

  constructor(private readonly options: TransportOptions) {}

  start(request: ChatRequest): Connection {
    return this.router.start(request);
  }

  resume(streamId: string, after: number): Connection {
    return this.router.resume(streamId, after);
  }

  /** Resolves once a socket is open. */
  async ready(): Promise<void> {
    await this.connect();
  }

  close(): void {
    this.socket?.close(1000);
    this.socket = null;
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
      socket.onmessage = (message) => this.router.receive(message.data);
      socket.onclose = () => {
        if (this.opening) {
          this.opening = null;
          reject(new ConnectionLost("the WebSocket could not connect"));
        }
        if (this.socket === socket) this.socket = null;
        this.router.dropAll("the WebSocket closed");
      };
    });
  }
}
