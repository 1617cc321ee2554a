/** The protocol v1 events, identical on every transport (see docs/protocol.md). */

export interface StartEvent {
  type: "start";
  seq: number;
  stream_id: string;
  conversation_id: string;
  message_id: string;
  model: string;
}
export interface DeltaEvent {
  type: "delta";
  seq: number;
  text: string;
}
export interface ReasoningEvent {
  type: "reasoning";
  seq: number;
  text: string;
}
/**
 * A piece of a tool call the model makes. `id` and `name` come only on a call's first event;
 * later events for the same `index` bring only the next piece of its JSON `arguments` (join them,
 * or use ToolCallAccumulator). Parallel calls have their own `index`; their pieces may interleave.
 */
export interface ToolCallEvent {
  type: "tool_call";
  seq: number;
  index: number;
  id?: string;
  name?: string;
  /** The next piece of the call's JSON arguments; "" when this event brings none. */
  arguments: string;
}
/** A tool the server ran answered; the stream goes on with the model's next answer. */
export interface ToolResultEvent {
  type: "tool_result";
  seq: number;
  tool_call_id: string;
  content: string;
  is_error: boolean;
}
export interface UsageEvent {
  type: "usage";
  seq: number;
  prompt_tokens: number;
  completion_tokens: number;
}
export interface DoneEvent {
  type: "done";
  seq: number;
  /** `tool_calls`: the model wants the caller to run its tools, then continue the turn with them. */
  finish_reason: "stop" | "length" | "tool_calls" | "cancelled";
}
export interface ErrorEvent {
  type: "error";
  seq: number;
  code: string;
  message: string;
  retryable: boolean;
}

export type StreamEvent =
  | StartEvent
  | DeltaEvent
  | ReasoningEvent
  | ToolCallEvent
  | ToolResultEvent
  | UsageEvent
  | DoneEvent
  | ErrorEvent;

export type TerminalEvent = DoneEvent | ErrorEvent;

export const EVENT_TYPES = [
  "start", "delta", "reasoning", "tool_call", "tool_result", "usage", "done", "error",
] as const;

export function isTerminal(event: StreamEvent): event is TerminalEvent {
  return event.type === "done" || event.type === "error";
}

/**
 * What a decoded JSON value is to a reader: an event it knows (`event`), an event it cannot use
 * (`skip`: a type this version does not know, or a known type with malformed fields), whose seq
 * still counts so that skipping it is not mistaken for a lost event, or not an event at all (null).
 */
export type Decoded = { event: StreamEvent } | { skip: number } | null;

export function decodeEvent(value: unknown): Decoded {
  if (typeof value !== "object" || value === null) return null;
  const v = value as { type?: unknown; seq?: unknown };
  if (typeof v.seq !== "number" || !Number.isInteger(v.seq) || v.seq < 1) return null;
  if (typeof v.type !== "string") return null;
  if (!(EVENT_TYPES as readonly string[]).includes(v.type)) return { skip: v.seq };
  if (v.type === "tool_call") return orSkip(toolCall(value as Fields, v.seq), v.seq);
  if (v.type === "tool_result") return orSkip(toolResult(value as Fields, v.seq), v.seq);
  return { event: value as StreamEvent };
}

type Fields = Record<string, unknown>;

function orSkip(event: StreamEvent | null, seq: number): Decoded {
  return event ? { event } : { skip: seq };
}

/** A string field that may be absent (or null); `undefined` when it is anything else. */
function optionalString(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  return typeof value === "string" ? value : undefined;
}

function toolCall(v: Fields, seq: number): ToolCallEvent | null {
  const { index } = v;
  const id = optionalString(v.id);
  const name = optionalString(v.name);
  const args = optionalString(v.arguments);
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0) return null;
  if (id === undefined || name === undefined || args === undefined) return null;
  return {
    type: "tool_call", seq, index,
    ...(id !== null ? { id } : {}),
    ...(name !== null ? { name } : {}),
    arguments: args ?? "",
  };
}

function toolResult(v: Fields, seq: number): ToolResultEvent | null {
  const content = optionalString(v.content);
  if (typeof v.tool_call_id !== "string" || content === undefined) return null;
  if (v.is_error !== undefined && typeof v.is_error !== "boolean") return null;
  return {
    type: "tool_result", seq, tool_call_id: v.tool_call_id,
    content: content ?? "",
    is_error: v.is_error === true,
  };
}

/** Accept a decoded JSON value as an event, or return null; unknown fields are ignored. */
export function asEvent(value: unknown): StreamEvent | null {
  const decoded = decodeEvent(value);
  return decoded && "event" in decoded ? decoded.event : null;
}
