// Rendering with the app's providers against a mocked keygate: `fetch` answers from a
// table of "METHOD /path" routes and records every request with its JSON body.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { vi } from "vitest";
import { ADMIN_KEY_STORAGE, AuthProvider } from "./lib/auth";
import type { UiConfig } from "./lib/schemas";

export const config: UiConfig = {
  app_name: "keygate",
  base_path: "",
  single_operator: true,
  admin_key_login: true,
  oidc_authority: null,
  oidc_client_id: null,
  oidc_redirect_uri: null,
  oidc_scope: "openid",
  oidc_resource: null,
  docs_html: "",
  api_docs_path: "/docs",
};

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

export type Route = (body: unknown, url: URL) => Response | Promise<Response>;

export interface Call {
  method: string;
  path: string;
  body: unknown;
}

/** Replaces the global fetch; a request without a route gets a 404. */
export function mockApi(routes: Record<string, Route>) {
  const calls: Call[] = [];
  const fetch = vi.fn((input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input), "http://localhost");
    const method = init?.method ?? "GET";
    const body: unknown = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    calls.push({ method, path: url.pathname, body });
    const route = routes[`${method} ${url.pathname}`];
    return Promise.resolve(
      route ? route(body, url) : json(404, { error: "not_found", message: `no route for ${method} ${url.pathname}` }),
    );
  });
  vi.stubGlobal("fetch", fetch);
  /** The requests that changed something (not GETs). */
  const writes = () => calls.filter((c) => c.method !== "GET");
  return { calls, writes, fetch };
}

/** `ui` inside the query client, a router (at `route`) and a session (logged in with an admin key). */
export function renderWithApi(ui: ReactNode, route = "/") {
  sessionStorage.setItem(ADMIN_KEY_STORAGE, "kgadmin_test");
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[route]}>
        <AuthProvider config={config}>{ui}</AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}
