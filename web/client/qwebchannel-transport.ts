/**
 * The desktop window's transport: no network at all. `tokenwire desktop` exposes a Qt object over
 * QWebChannel that speaks the WebSocket's frames (see docs/protocol.md) with the in-process hub:
 * the page calls `send(frame)`, and the object's `frames` signal brings back a JSON array of
 * server frames per batch. The window offers it as `globalThis.tokenwireBridge`, a promise.
 */

import type { Channel, Connection } from "./channel.js";
import { TokenwireError } from "./errors.js";
import { FrameRouter } from "./frame-router.js";
import type { ChatRequest, Transport } from "./transport.js";

/** The Qt object as QWebChannel's JavaScript side presents it. */
export interface QtBridge {
  send(frame: string): void;
  frames: { connect(callback: (batch: string) => void): void };
}

declare global {
  // eslint-disable-next-line no-var
  var tokenwireBridge: Promise<QtBridge> | undefined;
}

/** The bridge the window offers this page, if it is one. */
export function offeredBridge(): Promise<QtBridge> | undefined {
  const offered = globalThis.tokenwireBridge;
  return offered && typeof offered.then === "function" ? offered : undefined;
}

export class QWebChannelTransport implements Transport {
  readonly name = "qwebchannel" as const;
  private readonly router = new FrameRouter((channel, frame) => void this.send(channel, frame));
  private readonly bridge: Promise<QtBridge>;

  constructor(bridge: Promise<QtBridge>) {
    this.bridge = bridge.then((b) => {
      b.frames.connect((batch) => this.receive(batch));
      return b;
    });
  }

  start(request: ChatRequest): Connection {
    return this.router.start(request);
  }

  resume(streamId: string, after: number): Connection {
    return this.router.resume(streamId, after);
  }

  close(): void {
    // The bridge belongs to the window; it stops relaying to this page when the next one opens.
  }

  private async send(channel: Channel, frame: Record<string, unknown>): Promise<void> {
    try {
      (await this.bridge).send(JSON.stringify(frame));
    } catch (error) {
      channel.fail(new TokenwireError("no_bridge", `the window's bridge failed: ${String(error)}`));
    }
  }

  private receive(batch: string): void {
    let frames: unknown;
    try {
      frames = JSON.parse(batch);
    } catch {
      return;
    }
    if (!Array.isArray(frames)) return;
    for (const frame of frames) this.router.receive(frame);
  }
}
