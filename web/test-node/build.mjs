// Type-check and bundle the Node tests (web/test-node/*.test.ts) into web/dist/test-node/, for
// `node --test`. The client is bundled in from its sources; node's own modules stay imports.
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const web = dirname(here);
execFileSync(join(web, "node_modules", ".bin", "tsc"), ["-p", join(here, "tsconfig.json")], {
  stdio: "inherit",
});
const out = join(web, "dist", "test-node");
rmSync(out, { recursive: true, force: true });
await esbuild.build({
  entryPoints: readdirSync(here).filter((f) => f.endsWith(".test.ts")).map((f) => join(here, f)),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outdir: out,
  outExtension: { ".js": ".mjs" },
  logLevel: "warning",
});
