/**
 * A stored conversation shown as the live streams showed it: tool messages folded into the calls
 * they answer (never bubbles of their own), and an assistant message that follows tool results
 * shown in the same answer, after them. A stream still being written is read again from its
 * start, so its messages stored so far are not shown stored: the stream brings them, once, in
 * order (and if it has expired, `follow` shows them from `stored`).
 */

import type { StoredMessage } from "../client/index.js";
import type { AnswerView } from "./answer.js";

export interface HistorySink {
  user(message: StoredMessage): void;
  newAnswer(): AnswerView;
  /** Read the stream `streamId` from its start into `view`; `stored` is what is stored of it. */
  follow(streamId: string, view: AnswerView, stored: StoredMessage[]): void;
}

export function showHistory(messages: StoredMessage[], sink: HistorySink): void {
  const live = new Map<string, StoredMessage[]>();
  for (const m of messages) {
    if (m.role === "assistant" && m.status === "streaming" && m.stream_id) live.set(m.stream_id, []);
  }
  const replayed = new Map<string, StoredMessage[]>(); // tool call id → its live stream's messages
  let turn: AnswerView | null = null;
  let previous: StoredMessage | null = null;
  for (const message of messages) {
    if (message.role === "user") {
      turn = null;
      sink.user(message);
    } else if (message.role === "tool") {
      const id = message.tool_call_id ?? "";
      const stream = replayed.get(id);
      if (stream) stream.push(message);
      else turn?.showStoredResult(id, message.content, message.is_error === true);
    } else if (message.role === "assistant") {
      const view: AnswerView = turn && previous?.role === "tool" ? turn : sink.newAnswer();
      turn = view;
      const stream = message.stream_id ? live.get(message.stream_id) : undefined;
      if (stream) stream.push(message);
      if (stream && message.status === "streaming") {
        sink.follow(message.stream_id!, view, stream);
      } else if (stream) {
        for (const call of message.tool_calls ?? []) replayed.set(call.id, stream);
      } else {
        view.showStored(message);
      }
    }
    previous = message;
  }
}

/** Show what is stored of a stream that can no longer be read, its last message as interrupted. */
export function showStoredStream(view: AnswerView, stored: StoredMessage[]): void {
  for (const m of stored) {
    if (m.role === "tool") view.showStoredResult(m.tool_call_id ?? "", m.content, m.is_error === true);
    else if (m.status !== "streaming") view.showStored(m);
    else view.showStored({ ...m, status: "interrupted", error_message: null });
  }
}
