/** Split a text stream into lines of JSON, whatever the chunk boundaries. */

export class NdjsonDecoder {
  private buffer = "";

  /** The complete lines in `chunk` (after what was left over), parsed; blank lines skipped. */
  decode(chunk: string): unknown[] {
    this.buffer += chunk;
    const out: unknown[] = [];
    let start = 0;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n", start)) {
      const line = this.buffer.slice(start, nl).replace(/\r$/, "");
      start = nl + 1;
      if (line.trim() !== "") out.push(JSON.parse(line));
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** What is left at the end of the stream: a last line without its newline. */
  flush(): unknown[] {
    const rest = this.buffer.trim();
    this.buffer = "";
    return rest === "" ? [] : [JSON.parse(rest)];
  }
}
