// Start: read the UI settings from keygate, then render. The silent-renew iframe only
// hands its URL back to the page that opened it.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App, preloadFor } from "./app";
import { userManagerFor } from "./lib/auth";
import { uiConfigSchema } from "./lib/schemas";
import "./styles.css";

const basePath = new URL(document.baseURI).pathname.replace(/\/$/, "");
const root = document.getElementById("root");

async function start() {
  if (!root) return;
  // The page this visit opens loads beside the settings, not after them.
  preloadFor(window.location.pathname.slice(basePath.length) || "/");
  let config;
  try {
    const res = await fetch(`${basePath}/ui/config`, { cache: "no-store" });
    if (!res.ok) throw new Error(`keygate answered ${res.status}`);
    config = uiConfigSchema.parse(await res.json());
  } catch (e) {
    root.textContent = `Cannot load keygate's settings: ${e instanceof Error ? e.message : String(e)}. Reload to try again.`;
    root.className = "page-status";
    return;
  }
  document.title = config.app_name;
  if (window.location.pathname === `${basePath}/silent-callback`) {
    await userManagerFor(config)?.signinSilentCallback();
    return;
  }
  createRoot(root).render(
    <StrictMode>
      <App config={config} />
    </StrictMode>,
  );
}

void start();
