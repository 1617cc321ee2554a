// The render benchmark's page side: stream a ~100 KB markdown answer in 1–4 character events into
// (a) the incremental renderer, (b) the naive way (marked + innerHTML + hljs.highlightAll per event),
// (c) one render of the final text; measure frames and long tasks. Driven by bench/render/run.py.
import hljs from "highlight.js/lib/common";
import { marked } from "marked";

import { IncrementalRenderer, renderMarkdown } from "../render/index.js";

const LANGS: [string, string][] = [
  ["python", "def area(r: float) -> float:\n    \"\"\"Area of a circle.\"\"\"\n    return 3.14159 * r ** 2\n\nfor i in range(10):\n    print(i, area(i))\n"],
  ["javascript", "export async function load(url) {\n  const res = await fetch(url);\n  if (!res.ok) throw new Error(`status ${res.status}`);\n  return res.json();\n}\n"],
  ["rust", "fn main() {\n    let v: Vec<u32> = (1..=10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n"],
  ["bash", "set -euo pipefail\nfor f in *.log; do\n  gzip -9 \"$f\" && echo \"packed $f\"\ndone\n"],
  ["sql", "SELECT c.id, count(m.id) AS n\nFROM conversations c JOIN messages m ON m.conversation_id = c.id\nGROUP BY c.id ORDER BY n DESC LIMIT 10;\n"],
  ["typescript", "interface Point { x: number; y: number }\nconst norm = (p: Point): number => Math.hypot(p.x, p.y);\nconsole.log(norm({ x: 3, y: 4 }));\n"],
];

/** A deterministic ~100 KB answer: prose, lists, tables, a dozen code blocks, Chinese. */
export function corpus(targetBytes = 100_000): string {
  const parts: string[] = [];
  let size = 0;
  let code = 0;
  for (let i = 0; size < targetBytes; i++) {
    const section = [
      `## Section ${i + 1}: streaming notes\n\n`,
      `Streaming an answer token by token keeps the reader engaged; **section ${i + 1}** explains why *incremental* rendering matters, with \`inline code\` and a [link](https://example.com/${i}).\n\n`,
      `流式输出让读者无需等待完整答案。第${i + 1}节说明为什么增量渲染很重要：已完成的段落只渲染一次，之后再也不会被改动。中文字符在网络分块时可能被拆开，但解码器会保留它们。\n\n`,
      `- point one about latency\n- point two about **throughput**\n  - a nested point\n- point three 第三点\n\n`,
      `| metric | value | note |\n|:--|--:|:-:|\n| events | ${1000 + i} | 1–4 chars |\n| frames | ${60 + i} | per second |\n\n`,
      `> A quotation to close section ${i + 1}, said calmly.\n\n`,
    ];
    if (i % 2 === 0 && code < 12) {
      const [lang, body] = LANGS[code % LANGS.length]!;
      section.push("```" + lang + "\n" + body.repeat(3) + "```\n\n");
      code++;
    }
    const text = section.join("");
    parts.push(text);
    size += new TextEncoder().encode(text).length;
  }
  return parts.join("");
}

/** Pieces of 1–4 characters (whole code points, as a server's JSON events carry them). */
export function pieces(text: string, seed = 42): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  let s = seed;
  for (let i = 0; i < chars.length; ) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % 4);
    out.push(chars.slice(i, i + n).join(""));
    i += n;
  }
  return out;
}

export interface Result {
  mode: string;
  bytes: number;
  events: number;
  /** Time spent in the renderer's own code (event handlers and paints), summed. */
  scriptMs: number;
  /** The longest single piece of it. */
  longestCallMs: number;
  wallMs: number;
  longestFrameMs: number;
  longTasks: number;
  longestTaskMs: number;
}

type Mode = "incremental" | "naive" | "oneshot";

const tick = (): Promise<void> =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });

async function run(mode: Mode, bytes: number): Promise<Result> {
  const text = corpus(bytes);
  const events = pieces(text);
  const box = document.getElementById("out")!;
  box.replaceChildren();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)));

  const longTasks: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longTasks.push(entry.duration);
  });
  observer.observe({ type: "longtask", buffered: false });
  let longestFrame = 0;
  let last = performance.now();
  let ticking = true;
  const frame = (now: number): void => {
    longestFrame = Math.max(longestFrame, now - last);
    last = now;
    if (ticking) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);

  let scriptMs = 0;
  let longestCallMs = 0;
  const timed = (fn: () => void): void => {
    const t0 = performance.now();
    fn();
    const spent = performance.now() - t0;
    scriptMs += spent;
    longestCallMs = Math.max(longestCallMs, spent);
  };
  const started = performance.now();
  if (mode === "oneshot") {
    timed(() => renderMarkdown(text, box));
  } else if (mode === "incremental") {
    const renderer = new IncrementalRenderer(box, {
      schedule: (paint) => requestAnimationFrame(() => timed(paint)),
    });
    // The network delivers a few events per read; time each read's handling as one call.
    for (let i = 0; i < events.length; i += 8) {
      const batch = events.slice(i, i + 8);
      timed(() => {
        for (const piece of batch) renderer.append(piece);
      });
      await tick();
    }
    timed(() => renderer.finish());
  } else {
    let acc = "";
    for (let i = 0; i < events.length; i += 8) {
      const batch = events.slice(i, i + 8);
      timed(() => {
        for (const piece of batch) {
          acc += piece;
          box.innerHTML = marked.parse(acc, { async: false });
          hljs.highlightAll();
        }
      });
      await tick();
    }
  }
  const wallMs = performance.now() - started;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  ticking = false;
  await new Promise((r) => setTimeout(r, 100));
  observer.disconnect();
  return {
    mode,
    bytes: new TextEncoder().encode(text).length,
    events: events.length,
    scriptMs,
    longestCallMs,
    wallMs,
    longestFrameMs: longestFrame,
    longTasks: longTasks.length,
    longestTaskMs: Math.max(0, ...longTasks),
  };
}

hljs.configure({ ignoreUnescapedHTML: true });
(window as unknown as { runBench: typeof run }).runBench = run;
