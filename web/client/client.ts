/** The client: chat and resume over the chosen transport, plus the REST calls a chat UI needs. */

import { AutoTransport } from "./auto-transport.js";
import { errorFromResponse, TokenwireError } from "./errors.js";
import { EventSourceTransport } from "./eventsource-transport.js";
import { FetchTransport } from "./fetch-transport.js";
import { offeredBridge, QWebChannelTransport } from "./qwebchannel-transport.js";
import {
  ChatStream,
  DEFAULT_STREAM_OPTIONS,
  type StreamHandlers,
  type StreamOptions,
} from "./stream.js";
import {
  apiUrl,
  authHeaders,
  type ChatRequest,
  type ToolResult,
  type Transport,
  type TransportName,
  type TransportOptions,
} from "./transport.js";
import { WebSocketTransport } from "./websocket-transport.js";

export interface ClientOptions extends Partial<StreamOptions> {
  /** Base URL of the server; "" (the default) for the page's own origin. */
  baseUrl?: string;
  /**
   * `websocket`, `sse`, `ndjson`, `eventsource` or `qwebchannel`. By default: the desktop window's
   * QWebChannel bridge where the page is shown by `tokenwire desktop`; elsewhere WebSocket,
   * falling back to SSE over fetch if no socket can be opened (and SSE where there is no
   * WebSocket at all).
   */
  transport?: TransportName;
  /**
   * API token, for servers that require one: `Authorization: Bearer` on fetch; WebSocket and
   * EventSource use the cookie that `POST /api/login` sets, logged in once before they open.
   */
  token?: string;
  fetch?: typeof fetch;
}

export interface ModelInfo {
  id: string;
  provider: string;
  default: boolean;
}

export interface ConversationSummary {
  id: string;
  title: string;
  created_at: number;
  updated_at: number;
}

/** A tool call as stored on its assistant message: `arguments` is the whole JSON string. */
export interface StoredToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface StoredMessage {
  id: string;
  role: "user" | "assistant" | "system" | "tool";
  content: string;
  reasoning: string;
  status: "streaming" | "complete" | "cancelled" | "error" | "interrupted";
  model: string | null;
  stream_id: string | null;
  finish_reason: string | null;
  error_code: string | null;
  error_message: string | null;
  /** On an assistant message: the tools it called. */
  tool_calls?: StoredToolCall[];
  /** On a tool message: the call it answers, and whether the tool failed. */
  tool_call_id?: string;
  is_error?: boolean;
}

export interface Conversation extends ConversationSummary {
  messages: StoredMessage[];
}

function defaultTransport(options: TransportOptions): Transport {
  const bridge = offeredBridge();
  if (bridge) return new QWebChannelTransport(bridge);
  if (typeof WebSocket !== "function") return new FetchTransport(options, "sse");
  return new AutoTransport(new WebSocketTransport(options), new FetchTransport(options, "sse"));
}

export class TokenwireClient {
  readonly transport: Transport;
  private readonly options: TransportOptions;
  private readonly streamOptions: StreamOptions;

  constructor(options: ClientOptions = {}) {
    if (options.transport) checkTransport(options.transport);
    const boundFetch = options.fetch ?? checkedFetch(globalThis.fetch.bind(globalThis));
    let session: Promise<void> | null = null;
    this.options = {
      baseUrl: options.baseUrl ?? "",
      token: options.token,
      fetch: boundFetch,
      ensureSession: () => {
        const token = options.token;
        if (!token) return Promise.resolve();
        session ??= this.login(token).then(
          () => undefined,
          (error: unknown) => {
            session = null;
            throw error;
          },
        );
        return session;
      },
    };
    this.streamOptions = { ...DEFAULT_STREAM_OPTIONS, ...definedOnly(options) };
    this.transport = options.transport
      ? makeTransport(options.transport, this.options)
      : defaultTransport(this.options);
  }

  /** Start a generation; the returned stream resumes by itself until its terminal event. */
  chat(request: ChatRequest, handlers: StreamHandlers = {}): ChatStream {
    const stream = this.newStream(handlers);
    queueMicrotask(() => void stream.run(() => this.transport.start(request)));
    return stream;
  }

  /**
   * Continue a turn that ended with `finish_reason: "tool_calls"` with what the tools answered:
   * `POST /api/chat` with `{"conversation_id", "tool_results"}`, streamed like `chat`.
   */
  sendToolResults(
    conversationId: string,
    results: ToolResult[],
    handlers: StreamHandlers = {},
  ): ChatStream {
    return this.chat({ conversation_id: conversationId, tool_results: results }, handlers);
  }

  /** Read a stream that is already running (after a reload, say), from after `after`. */
  resume(streamId: string, after = 0, handlers: StreamHandlers = {}): ChatStream {
    const stream = this.newStream(handlers);
    queueMicrotask(
      () => void stream.run(() => this.transport.resume(streamId, after), streamId, after),
    );
    return stream;
  }

  /** Stop a generation on the server; resolves once its terminal event is written. */
  async cancel(streamId: string): Promise<"cancelled" | "finished"> {
    const body = await this.json<{ status: "cancelled" | "finished" }>(
      `/api/streams/${encodeURIComponent(streamId)}/cancel`,
      { method: "POST" },
    );
    return body.status;
  }

  async models(): Promise<ModelInfo[]> {
    return (await this.json<{ data: ModelInfo[] }>("/api/models")).data;
  }

  async conversations(limit = 50): Promise<ConversationSummary[]> {
    const path = `/api/conversations?limit=${limit}`;
    return (await this.json<{ data: ConversationSummary[] }>(path)).data;
  }

  conversation(id: string): Promise<Conversation> {
    return this.json<Conversation>(`/api/conversations/${encodeURIComponent(id)}`);
  }

  async deleteConversation(id: string): Promise<void> {
    await this.json(`/api/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /** Exchange a token for the HttpOnly session cookie (what browsers' WebSocket carries). */
  async login(token: string): Promise<{ user: string; auth: boolean }> {
    return this.json("/api/login", {
      method: "POST",
      body: JSON.stringify({ token }),
      headers: { "Content-Type": "application/json" },
    });
  }

  async logout(): Promise<void> {
    await this.json("/api/logout", { method: "POST" });
  }

  close(): void {
    this.transport.close();
  }

  /** A stream that finishes from the stored answer when its resume finds it expired (410). */
  private newStream(handlers: StreamHandlers): ChatStream {
    const stream = new ChatStream(this.transport, this.streamOptions, handlers);
    stream.loadStored = async (id) => (await this.conversation(id)).messages;
    return stream;
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.options.fetch(apiUrl(this.options, path), {
      ...init,
      headers: {
        Accept: "application/json",
        ...authHeaders(this.options),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
    if (!response.ok) throw await errorFromResponse(response);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }
}

function makeTransport(name: TransportName, options: TransportOptions): Transport {
  switch (name) {
    case "websocket":
      return new WebSocketTransport(options);
    case "eventsource":
      return new EventSourceTransport(options);
    case "sse":
    case "ndjson":
      return new FetchTransport(options, name);
    case "qwebchannel":
      return new QWebChannelTransport(
        offeredBridge() ?? Promise.reject(new Error("this page is not in the tokenwire window")),
      );
  }
}

/**
 * The runtime's fetch, refusing a URL that does not resolve to http(s): a base URL of "" or a
 * path only works where there is a page to be relative to (not under Node). The refusal is final,
 * since a bad URL would otherwise fail every fetch as a network error and be retried for minutes.
 */
function checkedFetch(fetch: typeof globalThis.fetch): typeof globalThis.fetch {
  return (input, init) => {
    const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const page = globalThis.location?.href;
    let url: URL | null = null;
    try {
      url = new URL(href, page);
    } catch {
      // not a URL, or relative with no page
    }
    if (url && (url.protocol === "http:" || url.protocol === "https:")) return fetch(input, init);
    const why = page ? "an http(s) URL" : "an absolute http(s) URL (there is no page to be relative to)";
    const error = new TokenwireError("invalid_base_url", `${JSON.stringify(href)} is not ${why}: check baseUrl`);
    return Promise.reject(error);
  };
}

/** A transport this runtime cannot offer (Node 20 has no EventSource, no global WebSocket). */
function checkTransport(name: TransportName): void {
  const needs: Partial<Record<TransportName, string>> = {
    websocket: "WebSocket",
    eventsource: "EventSource",
  };
  const global = needs[name];
  if (global && typeof (globalThis as Record<string, unknown>)[global] !== "function") {
    throw new TokenwireError(
      "unsupported_transport",
      `the ${name} transport needs ${global}, which this runtime lacks; use "sse" or "ndjson"`,
    );
  }
}

function definedOnly(options: ClientOptions): Partial<StreamOptions> {
  const out: Partial<StreamOptions> = {};
  for (const key of ["idleTimeoutMs", "giveUpAfterMs", "maxDelayMs", "retryMs"] as const) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
