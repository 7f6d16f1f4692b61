// Routes, and the providers every page needs.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { Suspense, useEffect, useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, matchPath, useLocation } from "react-router-dom";
import { ChunkErrorBoundary } from "./components/chunk-error";
import { Layout } from "./components/layout";
import { ApiError } from "./lib/api";
import { AuthProvider, useAuth } from "./lib/auth";
import type { UiConfig } from "./lib/schemas";
import { lazyPage, preloadPages } from "./lib/lazy-page";
import { useMe } from "./lib/queries/me";
import { QueryView, fromQuery } from "./components/query-view";
import { Loading } from "./components/state";
import { CallbackPage } from "./pages/callback-page";
import { KeysPage } from "./pages/keys-page";
import { LoginPage } from "./pages/login-page";

// Loaded when first visited: most people never open the admin pages, and the docs page
// brings the HTML sanitiser. The page a visit starts on loads beside the settings
// (`preloadFor`), and an administrator's console pages once they are known to be one.
const AuditPage = lazyPage(() => import("./pages/audit-page").then((m) => m.AuditPage));
const KeyPage = lazyPage(() => import("./pages/key-page").then((m) => m.KeyPage));
const GuidePage = lazyPage(() => import("./pages/guide-page").then((m) => m.GuidePage));
const AllKeysPage = lazyPage(() => import("./pages/all-keys-page").then((m) => m.AllKeysPage));
const OwnerKeysPage = lazyPage(() => import("./pages/owner-keys-page").then((m) => m.OwnerKeysPage));
const UsagePage = lazyPage(() => import("./pages/usage-page").then((m) => m.UsagePage));
const RolesPage = lazyPage(() => import("./pages/roles-page").then((m) => m.RolesPage));
const OwnersPage = lazyPage(() => import("./pages/owners-page").then((m) => m.OwnersPage));
const WebhooksPage = lazyPage(() => import("./pages/webhooks-page").then((m) => m.WebhooksPage));
const WebhookPage = lazyPage(() => import("./pages/webhook-page").then((m) => m.WebhookPage));

/** The console's pages an administrator goes to from its navigation. */
const CONSOLE_PAGES = [UsagePage, AllKeysPage, OwnersPage, AuditPage, KeyPage];

/** The lazily loaded page at `path` (below the base path), by the routes below. */
const PAGE_AT: [string, { preload: () => Promise<unknown> }][] = [
  ["/keys/:id", KeyPage],
  ["/guide", GuidePage],
  ["/admin", UsagePage],
  ["/admin/keys", AllKeysPage],
  ["/admin/keys/:id", KeyPage],
  ["/admin/owners", OwnersPage],
  ["/admin/owners/:owner", OwnerKeysPage],
  ["/admin/roles", RolesPage],
  ["/admin/webhooks", WebhooksPage],
  ["/admin/webhooks/:id", WebhookPage],
  ["/admin/audit", AuditPage],
];

/** Starts loading the page a visit opens at `path` (below the base path), if it is lazy. */
export function preloadFor(path: string) {
  preloadPages(PAGE_AT.filter(([route]) => matchPath(route, path)).map(([, page]) => page));
}

function newQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A refusal will not change by asking again; a network blip might.
        retry: (n, e) => n < 2 && !(e instanceof ApiError && e.status >= 400 && e.status < 500),
        refetchOnWindowFocus: true,
      },
    },
  });
}

function RequireLogin({ children }: { children: ReactNode }) {
  const { session } = useAuth();
  const location = useLocation();
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return children;
}

/** The start page: an admin's is the console's overview, everyone else's their keys. */
function Home() {
  const me = useMe();
  const admin = me.data?.admin === true;
  usePreloadConsole(admin);
  // An administrator goes on once the overview's code is here, so it does not suspend.
  const [overview, setOverview] = useState(false);
  useEffect(() => {
    const done = () => {
      setOverview(true);
    };
    if (admin) UsagePage.preload().then(done, done);
  }, [admin]);
  if (me.isPending || (admin && !overview)) return <Loading what="your account" />;
  return <Navigate to={admin ? "/admin" : "/keys"} replace />;
}

/** An old address that moved: sent on, with what followed it. */
function Moved({ to }: { to: string }) {
  const { search, hash } = useLocation();
  return <Navigate to={{ pathname: to, search, hash }} replace />;
}

/** An administrator's console pages, loaded ahead so that its navigation never waits on code. */
function usePreloadConsole(admin: boolean) {
  useEffect(() => {
    if (admin) preloadPages(CONSOLE_PAGES);
  }, [admin]);
}

function RequireAdmin({ children }: { children: ReactNode }) {
  const me = useMe();
  usePreloadConsole(me.data?.admin === true);
  return (
    <QueryView what="your account" {...fromQuery(me)}>
      {(data) =>
        data.admin ? (
          children
        ) : (
          <p className="notice notice-error" role="alert">
            This page is for administrators.
          </p>
        )
      }
    </QueryView>
  );
}

export function App({ config }: { config: UiConfig }) {
  const [client] = useState(newQueryClient);
  return (
    <QueryClientProvider client={client}>
      <BrowserRouter basename={config.base_path || "/"}>
        <AuthProvider config={config}>
          {/* A page that fails to load or render shows why and a reload button, never a white page. */}
          <ChunkErrorBoundary>
          <Suspense fallback={<Loading what="the page" />}>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/callback" element={<CallbackPage />} />
            <Route
              element={
                <RequireLogin>
                  <Layout />
                </RequireLogin>
              }
            >
              <Route index element={<Home />} />
              <Route path="/keys" element={<KeysPage scope={{ kind: "me" }} title="My keys" />} />
              <Route path="/keys/:id" element={<KeyPage scope="me" />} />
              <Route path="/guide" element={<GuidePage />} />
              {/* The operator's console: Overview · Keys · Owners · Audit log (see Layout). */}
              <Route
                path="/admin"
                element={
                  <RequireAdmin>
                    <UsagePage />
                  </RequireAdmin>
                }
              />
              <Route path="/admin/usage" element={<Moved to="/admin" />} />
              <Route
                path="/admin/keys"
                element={
                  <RequireAdmin>
                    <AllKeysPage />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/owners"
                element={
                  <RequireAdmin>
                    <OwnersPage />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/owners/:owner"
                element={
                  <RequireAdmin>
                    <OwnerKeysPage />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/keys/:id"
                element={
                  <RequireAdmin>
                    <KeyPage scope="any" />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/roles"
                element={
                  <RequireAdmin>
                    <RolesPage />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/webhooks"
                element={
                  <RequireAdmin>
                    <WebhooksPage />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/webhooks/:id"
                element={
                  <RequireAdmin>
                    <WebhookPage />
                  </RequireAdmin>
                }
              />
              <Route
                path="/admin/audit"
                element={
                  <RequireAdmin>
                    <AuditPage />
                  </RequireAdmin>
                }
              />
              <Route path="*" element={<p className="page-status">There is no such page.</p>} />
            </Route>
          </Routes>
          </Suspense>
          </ChunkErrorBoundary>
        </AuthProvider>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
