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

/** Accept a decoded JSON value as an event, or return null; unknown fields are ignored. */
export function asEvent(value: unknown): StreamEvent | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as { type?: unknown; seq?: unknown };
  if (typeof v.seq !== "number" || !Number.isInteger(v.seq) || v.seq < 1) return null;
  if (!(EVENT_TYPES as readonly unknown[]).includes(v.type)) return null;
  return value as StreamEvent;
}
