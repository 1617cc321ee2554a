/**
 * A real tokenwire server for the Node tests: `tokenwire serve` from the repository's .venv (or
 * $TOKENWIRE_BIN) on a free loopback port, with replay models and a SQLite file of its own.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ANSWER =
  "Streaming works under Node. 你好，世界！Emoji too: 🌍👩‍💻. " +
  "This answer is long enough to come as many small events.";

// web/dist/test-node/<test>.mjs → the repository root.
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export interface RunningServer {
  baseUrl: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export async function startServer(): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "tokenwire-node-"));
  const config = join(dir, "tokenwire.toml");
  const text = JSON.stringify(ANSWER); // a TOML basic string is a JSON string
  writeFileSync(
    config,
    [
      `database_url = "sqlite:///${join(dir, "chat.db")}"`,
      `[[models]]\nid = "replay"\nprovider = "replay"\ntext = ${text}`,
      `[[models]]\nid = "slow"\nprovider = "replay"\ntext = ${text}\ntokens_per_second = 20`,
      `[[models]]\nid = "crawl"\nprovider = "replay"\ntext = ${text}\ntokens_per_second = 4`,
    ].join("\n"),
  );
  const port = await freePort();
  const bin = process.env.TOKENWIRE_BIN ?? join(root, ".venv", "bin", "tokenwire");
  const child: ChildProcess = spawn(
    bin,
    ["serve", "--config", config, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`tokenwire serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error("tokenwire serve did not start within a minute");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
