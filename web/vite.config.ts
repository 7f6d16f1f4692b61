/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// keygate serves the built app at its base_path and points <base href> at it, so every
// URL in the build is relative ("./assets/…").
const keygate = process.env.KEYGATE_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Module preloading would inject a small polyfill; every supported browser has it.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` next to a running keygate (`make run`): the API through Vite.
    proxy: {
      "/api": keygate,
      "/ui/config": keygate,
      "/docs": keygate,
      "/openapi.json": keygate,
      "/forward-auth": keygate,
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
