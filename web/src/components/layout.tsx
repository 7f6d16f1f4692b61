// The frame around every page once logged in: the app's name, the navigation, who you
// are (and that you are an admin), and logging out.
import { NavLink, Outlet } from "react-router-dom";
import { useAuth } from "../lib/auth";
import { useMe } from "../lib/queries";

export function Layout() {
  const { config, logout } = useAuth();
  const me = useMe();
  const admin = me.data?.admin === true;
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
        <Outlet />
      </main>
    </div>
  );
}
