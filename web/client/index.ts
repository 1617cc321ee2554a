/** tokenwire's browser client: five transports, one event path, automatic resume. */

export { AutoTransport } from "./auto-transport.js";
export { backoffDelay } from "./backoff.js";
export { Channel, type Connection, type WireItem, wireItem } from "./channel.js";
export {
  type ClientOptions,
  type Conversation,
  type ConversationSummary,
  type ModelInfo,
  type StoredMessage,
  type StoredToolCall,
  TokenwireClient,
} from "./client.js";
export { ConnectionLost, TokenwireError } from "./errors.js";
export {
  asEvent,
  type Decoded,
  decodeEvent,
  isTerminal,
  type DeltaEvent,
  type DoneEvent,
  type ErrorEvent,
  type ReasoningEvent,
  type StartEvent,
  type StreamEvent,
  type TerminalEvent,
  type ToolCallEvent,
  type ToolResultEvent,
  type UsageEvent,
} from "./events.js";
export { EventSourceTransport } from "./eventsource-transport.js";
export { FetchTransport } from "./fetch-transport.js";
export { FrameRouter } from "./frame-router.js";
export { NdjsonDecoder } from "./ndjson.js";
export { type SseMessage, SseParser, type SseSink } from "./sse.js";
export {
  ChatStream,
  DEFAULT_STREAM_OPTIONS,
  type StreamHandlers,
  type StreamOptions,
  type StreamStatus,
} from "./stream.js";
export { offeredBridge, type QtBridge, QWebChannelTransport } from "./qwebchannel-transport.js";
export {
  collectToolCalls,
  type ToolCall,
  ToolCallAccumulator,
  type ToolCallPiece,
} from "./tool-calls.js";
export type {
  ChatRequest,
  MessageRequest,
  ToolChoice,
  ToolDefinition,
  ToolResult,
  ToolResultsRequest,
  Transport,
  TransportName,
  TransportOptions,
} from "./transport.js";
export { WebSocketTransport } from "./websocket-transport.js";
