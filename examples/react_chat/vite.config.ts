import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// base "./": the built page works from any path it is served under.
export default defineConfig({ base: "./", plugins: [react()] });
