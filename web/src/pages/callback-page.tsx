// Where the identity provider sends the browser back after login.
import { useEffect, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { messageOf } from "../components/state";
import { useAuth } from "../lib/auth";

export function CallbackPage() {
  const { completeOidcLogin } = useAuth();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    completeOidcLogin().then(
      (to) => {
        void navigate(to, { replace: true });
      },
      (e: unknown) => {
        setError(messageOf(e));
      },
    );
  }, [completeOidcLogin, navigate]);
  return (
    <main className="login">
      <div className="login-card">
        {error ? (
          <>
            <p className="notice notice-error" role="alert">
              Login did not complete: {error}
            </p>
            <Link to="/login">Back to the login page</Link>
          </>
        ) : (
          <p role="status">Logging you in…</p>
        )}
      </div>
    </main>
  );
}
