/**
 * Where a growing markdown text can be cut so that the part before never changes again.
 *
 * The text is parsed from the first uncommitted line. Top-level blocks before the last one are
 * final once the last one's first line is complete: that line's kind (list item, heading, fence,
 * paragraph…) no longer depends on what follows, so it cannot merge into or reshape the blocks
 * before it. Reference definitions, the one markdown feature that reaches back, are disabled.
 */

import type Token from "markdown-it/lib/token.mjs";

export interface Cut {
  /** Tokens before this index belong to committed blocks. */
  tokenIndex: number;
  /** Characters of the source before this offset belong to committed blocks. */
  charOffset: number;
}

export function stableCut(tokens: Token[], src: string): Cut | null {
  const starts: { tokenIndex: number; line: number }[] = [];
  tokens.forEach((token, tokenIndex) => {
    if (token.level === 0 && token.nesting >= 0 && token.map && token.block) {
      starts.push({ tokenIndex, line: token.map[0] });
    }
  });
  const lineOffsets = lineStarts(src);
  for (let i = starts.length - 1; i >= 1; i--) {
    const start = starts[i]!;
    const next = lineOffsets[start.line + 1];
    if (next !== undefined) {
      return { tokenIndex: start.tokenIndex, charOffset: lineOffsets[start.line]! };
    }
  }
  return null;
}

/** Offsets where each line starts; a line counts as complete when the next one has a start. */
function lineStarts(src: string): number[] {
  const out = [0];
  for (let i = src.indexOf("\n"); i >= 0; i = src.indexOf("\n", i + 1)) out.push(i + 1);
  return out;
}
