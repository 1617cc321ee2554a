// Build the web app into the Python package (src/tokenwire/static/app/), with content-hashed
// assets and an index.html shell that names them; with --tests, bundle the unit tests for node.
import { readdirSync, rmSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "tokenwire", "static", "app");

async function buildApp() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: join(here, "app", "main.ts") },
    bundle: true,
    minify: true,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    entryNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    outdir: out,
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => /^app-.*\.js$/.test(f));
  const css = outputs.find((f) => /^app-.*\.css$/.test(f));
  if (!js || !css) throw new Error(`unexpected build outputs: ${outputs.join(", ")}`);
  const shell = readFileSync(join(here, "app", "index.html"), "utf8")
    .replace("{{script}}", `/static/app/${js}`)
    .replace("{{style}}", `/static/app/${css}`);
  writeFileSync(join(out, "index.html"), shell);
  console.log(`web app built: ${js}, ${css}`);
}

async function buildTests() {
  const dir = join(here, "test");
  const entries = readdirSync(dir).filter((f) => f.endsWith(".test.ts")).map((f) => join(dir, f));
  rmSync(join(here, "dist", "test"), { recursive: true, force: true });
  await esbuild.build({
    entryPoints: entries,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outdir: join(here, "dist", "test"),
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
}

async function buildBench() {
  await esbuild.build({
    entryPoints: [join(here, "bench", "render-bench.ts")],
    bundle: true,
    minify: true,
    format: "esm",
    target: "chrome100",
    outfile: join(here, "dist", "bench", "render-bench.js"),
    logLevel: "warning",
  });
}

if (process.argv.includes("--tests")) await buildTests();
else if (process.argv.includes("--bench")) await buildBench();
else await buildApp();
