/** What every transport offers the one stream loop: start a chat, read a stream after a seq. */

import type { Connection } from "./channel.js";

export interface ChatRequest {
  message: string;
  conversation_id?: string;
  model?: string;
  params?: Record<string, unknown>;
}

export interface Transport {
  readonly name: TransportName;
  /** Start a generation. Its stream id arrives as a `stream` item (or on its `start` event). */
  start(request: ChatRequest): Connection;
  /** Read the stream's events with `seq > after`. */
  resume(streamId: string, after: number): Connection;
  /** Release what the transport holds (a WebSocket). */
  close(): void;
}

export type TransportName = "websocket" | "sse" | "ndjson" | "eventsource" | "qwebchannel";

export interface TransportOptions {
  /** Base URL of the server, "" for the page's own origin. */
  baseUrl: string;
  /**
   * Optional API token: an `Authorization: Bearer` header on every fetch. WebSocket and
   * EventSource cannot send headers, so they carry the HttpOnly cookie that `POST /api/login`
   * sets; `ensureSession` does that login once before the first of them opens.
   */
  token?: string | undefined;
  fetch: typeof fetch;
  ensureSession: () => Promise<void>;
}

export function apiUrl(options: TransportOptions, path: string, query?: Record<string, string>): string {
  const base = options.baseUrl.replace(/\/$/, "");
  const params = new URLSearchParams(query);
  const qs = params.toString();
  return `${base}${path}${qs ? `?${qs}` : ""}`;
}

export function authHeaders(options: TransportOptions): Record<string, string> {
  return options.token ? { Authorization: `Bearer ${options.token}` } : {};
}
