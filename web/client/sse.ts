/**
 * An incremental Server-Sent Events parser that follows the WHATWG "event stream interpretation"
 * rules, like tokenwire's Python decoder: feed it text as it arrives, in chunks of any size.
 */

export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

export interface SseSink {
  message(message: SseMessage): void;
  comment?(text: string): void;
  retry?(ms: number): void;
}

export class SseParser {
  private buffer = "";
  private data = "";
  private dataSeen = false;
  private eventType = "";
  private lastEventId: string | undefined;
  private first = true;
  private pendingCR = false;

  constructor(private readonly sink: SseSink) {}

  /** The last event ID buffer, as the spec keeps it across events. */
  get lastId(): string | undefined {
    return this.lastEventId;
  }

  feed(chunk: string): void {
    if (this.first && chunk.length > 0) {
      // "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are present."
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      this.first = false;
    }
    // A CR that ended the previous chunk may be the first half of a CRLF.
    if (this.pendingCR && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.pendingCR = false;
    this.buffer += chunk;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      if (cr < 0 && lf < 0) break;
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        end = cr;
        if (cr + 1 === this.buffer.length) {
          next = cr + 1;
          this.pendingCR = true;
        } else {
          next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    // "If the line is empty (a blank line): Dispatch the event."
    if (line === "") return this.dispatch();
    // "If the line starts with a U+003A COLON character (:): Ignore the line." (a comment)
    if (line.startsWith(":")) return this.sink.comment?.(line.slice(1).trimStart());
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      // "If value starts with a U+0020 SPACE character, remove it from value."
      if (value.startsWith(" ")) value = value.slice(1);
    }
    this.field(field, value);
  }

  private field(field: string, value: string): void {
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data += value + "\n";
        this.dataSeen = true;
        break;
      case "id":
        // "If the field value does not contain U+0000 NULL, set the last event ID buffer."
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        // "If the field value consists of only ASCII digits, ... set the reconnection time."
        if (/^[0-9]+$/.test(value)) this.sink.retry?.(Number.parseInt(value, 10));
        break;
      default:
      // "Otherwise: The field is ignored."
    }
  }

  private dispatch(): void {
    // "If the data buffer is an empty string, set the data buffer and the event type buffer to
    // the empty string and return."
    if (!this.dataSeen) {
      this.eventType = "";
      return;
    }
    const data = this.data.endsWith("\n") ? this.data.slice(0, -1) : this.data;
    const message = { event: this.eventType || "message", data, id: this.lastEventId };
    this.data = "";
    this.dataSeen = false;
    this.eventType = "";
    this.sink.message(message);
  }
}
