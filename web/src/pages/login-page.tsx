// Log in: with the identity provider, or with the admin key in single-operator mode.
import { useEffect, useRef, useState } from "react";
import { Navigate, useLocation } from "react-router-dom";
import { messageOf } from "../components/state";
import { useAuth } from "../lib/auth";

export function LoginPage() {
  const auth = useAuth();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/keys";
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (auth.session) return <Navigate to={from} replace />;
  return (
    <LoginView
      appName={auth.config.app_name}
      notice={auth.notice}
      error={error}
      busy={busy}
      oidc={auth.oidc !== null}
      adminKey={auth.config.admin_key_login}
      singleOperator={auth.config.single_operator}
      onOidc={() => {
        setBusy(true);
        auth.loginWithOidc(from).catch((e: unknown) => {
          setBusy(false);
          setError(`The identity provider cannot be reached: ${messageOf(e)}`);
        });
      }}
      onKey={(key) => {
        setBusy(true);
        setError(null);
        auth
          .loginWithKey(key)
          .catch((e: unknown) => {
            setError(messageOf(e));
          })
          .finally(() => {
            setBusy(false);
          });
      }}
    />
  );
}

export interface LoginViewProps {
  appName: string;
  notice: string | null;
  error: string | null;
  busy: boolean;
  oidc: boolean;
  adminKey: boolean;
  singleOperator: boolean;
  onOidc: () => void;
  onKey: (key: string) => void;
}

export function LoginView(p: LoginViewProps) {
  const [key, setKey] = useState("");
  // The one thing to do here is to type the key: the field has the keyboard at once.
  const keyRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    keyRef.current?.focus();
  }, []);
  return (
    <main className="login">
      <div className="login-card">
        <h1>{p.appName}</h1>
        <p className="muted">Manage the API keys that let requests through.</p>
        {p.notice && (
          <p className="notice notice-warn" role="status">
            {p.notice}
          </p>
        )}
        {p.error && (
          <p className="notice notice-error" role="alert">
            {p.error}
          </p>
        )}
        {p.oidc && (
          <button type="button" className="button button-primary button-wide" disabled={p.busy} onClick={p.onOidc}>
            Log in with your organisation account
          </button>
        )}
        {p.adminKey && (
          <form
            className="key-login"
            onSubmit={(e) => {
              e.preventDefault();
              if (key.trim()) p.onKey(key);
            }}
          >
            {p.singleOperator && (
              <p className="hint">
                keygate runs in single-operator mode. Log in with the admin key it printed when it first started (
                <code>kgadmin_…</code>); lost it? Stop keygate and run <code>keygate admin-key reset</code>.
              </p>
            )}
            <div className="field">
              <label htmlFor="admin-key">Admin key</label>
              <input
                ref={keyRef}
                id="admin-key"
                type="password"
                autoComplete="current-password"
                value={key}
                onChange={(e) => {
                  setKey(e.target.value);
                }}
              />
            </div>
            <button type="submit" className="button button-primary button-wide" disabled={p.busy || !key.trim()}>
              {p.busy ? "Checking…" : "Log in"}
            </button>
            <p className="hint">The key stays in this browser tab only and is forgotten when you log out.</p>
          </form>
        )}
        {!p.oidc && !p.adminKey && (
          <p className="notice notice-error">
            No way to log in is configured: set <code>[frontend] oidc_client_id</code> (see the README).
          </p>
        )}
      </div>
    </main>
  );
}
