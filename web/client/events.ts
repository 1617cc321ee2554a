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
export interface UsageEvent {
  type: "usage";
  seq: number;
  prompt_tokens: number;
  completion_tokens: number;
}
export interface DoneEvent {
  type: "done";
  seq: number;
  finish_reason: "stop" | "length" | "cancelled";
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
  | UsageEvent
  | DoneEvent
  | ErrorEvent;

export type TerminalEvent = DoneEvent | ErrorEvent;

export const EVENT_TYPES = ["start", "delta", "reasoning", "usage", "done", "error"] as const;

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
  return { event: value as StreamEvent };
}

/** Accept a decoded JSON value as an event, or return null; unknown fields are ignored. */
export function asEvent(value: unknown): StreamEvent | null {
  const decoded = decodeEvent(value);
  return decoded && "event" in decoded ? decoded.event : null;
}
