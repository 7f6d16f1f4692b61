// The frame around every page once logged in: the app's name, the navigation, who you
// are (and that you are an admin), and logging out.
import { Suspense, useEffect } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useAuth } from "../lib/auth";
import { useMe } from "../lib/queries/me";
import { ChunkErrorBoundary } from "./chunk-error";
import { SessionEndedNotice } from "./session-ended";
import { Loading } from "./state";

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
          <NavLink to="/keys">My keys</NavLink>
          {admin && <NavLink to="/admin" end={false}>Admin</NavLink>}
          <NavLink to="/guide">Docs</NavLink>
        </nav>
        <div className="who">
          {me.data && (
            <span className="whoami" data-testid="whoami" title={`Logged in as ${me.data.subject} (${me.data.auth})`}>
              <span className="whoami-name">{me.data.name ?? me.data.subject}</span>
              {admin && <span className="badge badge-admin">admin</span>}
            </span>
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
        {/* Keeps the navigation on screen while a page loads, or when it cannot. */}
        <ChunkErrorBoundary resetKey={location.pathname}>
          <Suspense fallback={<Loading what="the page" />}>
            <Outlet />
          </Suspense>
        </ChunkErrorBoundary>
      </main>
    </div>
  );
}
