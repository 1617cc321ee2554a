import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// "tokenwire-web/client" is the client's package export (web/package.json). The alias points it at
// this repository's build of it (scripts/build-web), so the example always runs the current client;
// in an app of your own, depend on the package instead and drop the alias.
const client = fileURLToPath(new URL("../../web/dist/client/index.js", import.meta.url));

// base "./": the built page works from any path it is served under.
export default defineConfig({
  base: "./",
  plugins: [react()],
  resolve: { alias: { "tokenwire-web/client": client } },
});
