// The frame around every page once logged in: the app's name, the navigation, who you
// are (and that you are an admin), and logging out. An admin's navigation is the
// operator's console (Overview · Keys · Owners · Audit log · Docs) with a key search;
// their own keys are a link by their name. Everyone else's is My keys · Docs. Above
// every page, the one banner that says keygate cannot be reached.
import { Suspense, useEffect } from "react";
import { Link, NavLink, Outlet, useLocation } from "react-router-dom";
import { useAuth } from "../lib/auth";
import { ConnectionBannerShown } from "../lib/queries/connection";
import { useMe } from "../lib/queries/me";
import { ChunkErrorBoundary } from "./chunk-error";
import { ConnectionBanner } from "./connection-banner";
import { HeaderSearch } from "./header-search";
import { SessionEndedNotice } from "./session-ended";
import { Loading } from "./state";
import "./console.css";

/**
 * The console's sections, and the paths each one holds: a key's page is under Keys,
 * roles and webhooks (reached from the Owners page) under Owners.
 */
export const ADMIN_NAV: { to: string; label: string; holds: (path: string) => boolean }[] = [
  { to: "/admin", label: "Overview", holds: (p) => p === "/admin" || p === "/admin/usage" },
  { to: "/admin/keys", label: "Keys", holds: (p) => p.startsWith("/admin/keys") },
  {
    to: "/admin/owners",
    label: "Owners",
    holds: (p) => ["/admin/owners", "/admin/roles", "/admin/webhooks"].some((s) => p === s || p.startsWith(`${s}/`)),
  },
  { to: "/admin/audit", label: "Audit log", holds: (p) => p.startsWith("/admin/audit") },
  { to: "/guide", label: "Docs", holds: (p) => p.startsWith("/guide") },
];

/** A section of the navigation: marked (aria-current) on any page it holds. */
function Section({ to, label, active }: { to: string; label: string; active: boolean }) {
  return (
    <Link to={to} className={active ? "active" : undefined} aria-current={active ? "page" : undefined}>
      {label}
    </Link>
  );
}

export function Layout() {
  const { config, logout } = useAuth();
  const me = useMe();
  const admin = me.data?.admin === true;
  const location = useLocation();
  // After an action that removed what had the keyboard (a key revoked on its own page),
  // the page navigated to asks for the focus on its heading: the first h1 once it shows.
  const focusHeading = (location.state as { focusHeading?: boolean } | null)?.focusHeading === true;
  useEffect(() => {
    if (!focusHeading) return;
    let frame = 0;
    const deadline = Date.now() + 3000;
    const tryFocus = () => {
      const main = document.getElementById("main");
      const h1 = main?.querySelector("h1");
      if (h1) {
        if (!h1.hasAttribute("tabindex")) h1.setAttribute("tabindex", "-1");
        h1.focus();
      } else if (Date.now() < deadline) {
        frame = requestAnimationFrame(tryFocus);
      } else {
        main?.focus();
      }
    };
    tryFocus();
    return () => {
      cancelAnimationFrame(frame);
    };
  }, [focusHeading, location.key]);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">{config.app_name}</span>
        <nav aria-label="Main">
          {admin ? (
            ADMIN_NAV.map((s) => <Section key={s.to} to={s.to} label={s.label} active={s.holds(location.pathname)} />)
          ) : (
            <>
              <NavLink to="/keys">My keys</NavLink>
              <NavLink to="/guide">Docs</NavLink>
            </>
          )}
        </nav>
        {admin && <HeaderSearch />}
        <div className="who">
          {me.data && (
            <span className="whoami" data-testid="whoami" title={`Logged in as ${me.data.subject} (${me.data.auth})`}>
              <span className="whoami-name">{me.data.name ?? me.data.subject}</span>
              {admin && <span className="badge badge-admin">admin</span>}
            </span>
          )}
          {/* An admin's own keys: not a section of the console, but always a click away. */}
          {admin && (
            <NavLink to="/keys" className="my-keys-link">
              My keys
            </NavLink>
          )}
          {me.isError && <span className="muted small">Could not check who you are.</span>}
          <button
            type="button"
            className="button button-small"
            onClick={() => {
              void logout();
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <SessionEndedNotice />
        <ConnectionBanner />
        <ConnectionBannerShown value={true}>
          {/* Keeps the navigation on screen while a page loads, or when it cannot. */}
          <ChunkErrorBoundary resetKey={location.pathname}>
            <Suspense fallback={<Loading what="the page" />}>
              <Outlet />
            </Suspense>
          </ChunkErrorBoundary>
        </ConnectionBannerShown>
      </main>
    </div>
  );
}
