// Bundle src/main.js with the library into dist/, beside a copy of index.html.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  format: "esm",
  target: "chrome100",
  outfile: join(out, "main.js"),
  logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
