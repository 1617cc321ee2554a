import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// "tokenwire-web/client" is the client's package export (web/package.json). The alias points it at
// this repository's build of it (scripts/build-web), so the example always runs the current client;
// in an app of your own, depend on the package instead and drop the alias.
const client = fileURLToPath(new URL("../../web/dist/client/index.js", import.meta.url));

// base "./": the built page works from any path it is served under. `npm run dev` forwards /api
// (WebSocket included) to a tokenwire server, so the page talks to its own origin, as when built.
const server = process.env.TOKENWIRE_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "./",
  plugins: [react()],
  resolve: { alias: { "tokenwire-web/client": client } },
  server: { proxy: { "/api": { target: server, ws: true } } },
});
