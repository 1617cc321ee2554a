import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

// base "./": the built page works from any path it is served under. `npm run dev` forwards /api
// (WebSocket included) to a tokenwire server, so the page talks to its own origin, as when built.
const server = process.env.TOKENWIRE_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "./",
  plugins: [vue()],
  server: { proxy: { "/api": { target: server, ws: true } } },
});
