/**
 * Whole tool calls from their streamed pieces. A `tool_call` event names its call by `index`; only
 * the first event of a call brings its `id` and `name`, and every event brings the next piece of
 * its JSON `arguments`. Parallel calls have their own index and their pieces may interleave; a
 * later model turn (after tool results, in the same stream) numbers its calls from 0 again, each
 * starting with a new `id`.
 */

import type { StreamEvent, ToolCallEvent } from "./events.js";

export interface ToolCall {
  index: number;
  id: string;
  name: string;
  /** The JSON argument string so far; whole once the call is closed. */
  arguments: string;
}

/** The pieces of a tool call, as `tool_call` events bring them. */
export type ToolCallPiece = Pick<ToolCallEvent, "index" | "arguments"> &
  Partial<Pick<ToolCallEvent, "id" | "name">>;

export class ToolCallAccumulator {
  private readonly all: ToolCall[] = [];
  /** The latest call of each index: where a piece without an id belongs. */
  private readonly byIndex = new Map<number, ToolCall>();
  private readonly open = new Set<ToolCall>();

  /** Add one piece. Returns the call it belongs to: the same object for every piece, grown. */
  add(piece: ToolCallPiece): ToolCall {
    const id = piece.id ?? "";
    let call = this.byIndex.get(piece.index);
    if (!call || (id !== "" && call.id !== "" && id !== call.id)) {
      call = { index: piece.index, id, name: piece.name ?? "", arguments: "" };
      this.byIndex.set(piece.index, call);
      this.all.push(call);
    } else {
      // A repeated id or name is the same one again: never overwrite what the first piece said.
      if (call.id === "") call.id = id;
      if (call.name === "" && piece.name) call.name = piece.name;
    }
    call.arguments += piece.arguments;
    this.open.add(call);
    return call;
  }

  /**
   * The model's turn has moved on (a tool result, the end of the stream): its calls are whole.
   * Returns the calls that were still open, in the order they began.
   */
  close(): ToolCall[] {
    const closed = this.all.filter((call) => this.open.has(call));
    this.open.clear();
    return closed;
  }

  /** Whether more pieces of this call may come. */
  isOpen(call: ToolCall): boolean {
    return this.open.has(call);
  }

  /**
   * Feed any event: a `tool_call` adds its piece and returns its call; a `tool_result`, `done`
   * or `error` closes the open calls; anything else changes nothing. Returns the call a piece
   * went to, or null.
   */
  push(event: StreamEvent): ToolCall | null {
    if (event.type === "tool_call") return this.add(event);
    if (event.type === "tool_result" || event.type === "done" || event.type === "error") this.close();
    return null;
  }

  /** Every call so far, in the order they began (copies: the accumulator keeps growing its own). */
  get calls(): ToolCall[] {
    return this.all.map((call) => ({ ...call }));
  }
}

/** The whole calls in a sequence of events. */
export function collectToolCalls(events: Iterable<StreamEvent>): ToolCall[] {
  const accumulator = new ToolCallAccumulator();
  for (const event of events) accumulator.push(event);
  return accumulator.calls;
}
