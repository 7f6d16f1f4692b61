// Log in: with the identity provider, or with the admin key in single-operator mode.
// keygate refuses an address that failed too often (429, for `Retry-After` seconds,
// whatever key it sends next): the form then counts down, and lets the key be sent
// again only when keygate will look at it. (The identity provider's login is not
// throttled by keygate: its access tokens cannot be guessed.)
import { useEffect, useRef, useState } from "react";
import { Navigate, useLocation } from "react-router-dom";
import { messageOf } from "../components/state";
import { ApiError } from "../lib/api";
import { useAuth } from "../lib/auth";

/** A 429 without `Retry-After` (a proxy's): wait this long (s) before trying again. */
const DEFAULT_WAIT_S = 60;

/** "0:37", "1:05", "12:00". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * A countdown: the seconds left (0 once it has passed, or before it starts), ticking
 * every quarter second while it runs, and how to start it for `seconds`.
 */
function useCountdown(): [number, (seconds: number) => void] {
  const [clockAt, setClockAt] = useState<{ until: number; now: number } | null>(null);
  const until = clockAt?.until ?? null;
  useEffect(() => {
    if (until === null) return;
    const t = setInterval(() => {
      const now = Date.now();
      setClockAt(now >= until ? null : { until, now });
    }, 250);
    return () => {
      clearInterval(t);
    };
  }, [until]);
  const left = clockAt === null ? 0 : Math.max(0, Math.ceil((clockAt.until - clockAt.now) / 1000));
  const start = (seconds: number) => {
    const now = Date.now();
    setClockAt({ until: now + seconds * 1000, now });
  };
  return [left, start];
}

export function LoginPage() {
  const auth = useAuth();
  const location = useLocation();
  // The start page sends each to theirs: an admin to the overview, anyone else to their keys.
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [wait, startWait] = useCountdown();
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
      wait={wait}
      onKey={(key) => {
        setBusy(true);
        setError(null);
        auth
          .loginWithKey(key)
          .catch((e: unknown) => {
            if (e instanceof ApiError && e.status === 429) {
              startWait(e.retryAfter ?? DEFAULT_WAIT_S);
            } else setError(messageOf(e));
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
  /** Seconds until keygate takes a key again (after too many failed attempts); 0: now. */
  wait?: number;
  onOidc: () => void;
  onKey: (key: string) => void;
}

export function LoginView(p: LoginViewProps) {
  const [key, setKey] = useState("");
  const wait = p.wait ?? 0;
  const waiting = wait > 0;
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
        {waiting && (
          // Announced once as it appears; the countdown itself is a timer, which is not
          // read out every second.
          <p className="notice notice-warn" role="alert" data-testid="throttled">
            <strong>
              Too many attempts — try again in{" "}
              <span role="timer" aria-live="off">
                {clock(wait)}
              </span>
              .
            </strong>{" "}
            keygate refuses logins from this address until then, even with the right key.
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
              if (key.trim() && !waiting) p.onKey(key);
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
            <button type="submit" className="button button-primary button-wide" disabled={p.busy || waiting || !key.trim()}>
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
