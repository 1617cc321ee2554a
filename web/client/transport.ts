/** What every transport offers the one stream loop: start a chat, read a stream after a seq. */

import type { Connection } from "./channel.js";

/** The body of `POST /api/chat` (and of the WebSocket's `chat` frame, which adds its `ref`). */
export type ChatRequest = MessageRequest | ToolResultsRequest;

/** A new message from the user. */
export interface MessageRequest {
  message: string;
  conversation_id?: string;
  model?: string;
  params?: Record<string, unknown>;
  /** Tools the model may call, in the OpenAI `tools` shape. */
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
}

/**
 * Continue a turn that ended with `finish_reason: "tool_calls"`: the caller ran the tools and
 * answers each call by its id. The answer streams like any chat, in the same conversation.
 */
export interface ToolResultsRequest {
  conversation_id: string;
  tool_results: ToolResult[];
}

export interface ToolResult {
  tool_call_id: string;
  /** What the tool answered, as text (JSON or otherwise). */
  content: string;
}

export interface ToolDefinition {
  type: "function";
  function: {
    name: string;
    description?: string;
    /** A JSON Schema object for the arguments. */
    parameters?: Record<string, unknown>;
  };
}

export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

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
