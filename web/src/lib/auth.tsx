// Who is logged in, and how: an OIDC session (authorization code + PKCE, renewed
// silently) or the admin key of single-operator mode, kept in sessionStorage only.
// Every API call goes through the one client made here; a 401 ends the session and
// the router sends the user to the login page with a notice.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { type Api, ApiError, createApi } from "./api";
import { meSchema, type UiConfig } from "./schemas";

export const ADMIN_KEY_STORAGE = "keygate.admin-key";

export type Session = { kind: "admin-key"; token: string } | { kind: "oidc"; token: string; user: User };

export interface Auth {
  config: UiConfig;
  session: Session | null;
  /** Why the user was sent to log in, if not by choice. */
  notice: string | null;
  api: Api;
  oidc: UserManager | null;
  loginWithKey: (key: string) => Promise<void>;
  loginWithOidc: (returnTo: string) => Promise<void>;
  /** Finishes the OIDC redirect; resolves to where the user was going. */
  completeOidcLogin: () => Promise<string>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

/** The bearer credential of the current session, read when a request is made. */
class Credential {
  constructor(private token: string | null) {}
  get() {
    return this.token;
  }
  set(token: string | null) {
    this.token = token;
  }
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error("useAuth outside <AuthProvider>");
  return a;
}

/** The app's own absolute URL for a client route ("callback" → https://host/base/callback). */
export const appUrl = (route: string) => new URL(route, document.baseURI).href;

export function userManagerFor(config: UiConfig): UserManager | null {
  if (!config.oidc_authority || !config.oidc_client_id) return null;
  const resource = config.oidc_resource ? { resource: config.oidc_resource } : undefined;
  return new UserManager({
    authority: config.oidc_authority,
    client_id: config.oidc_client_id,
    redirect_uri: config.oidc_redirect_uri ?? appUrl("callback"),
    silent_redirect_uri: appUrl("silent-callback"),
    post_logout_redirect_uri: appUrl("login"),
    response_type: "code",
    scope: config.oidc_scope,
    automaticSilentRenew: true,
    // Tokens live as long as the tab: never in localStorage.
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    ...(resource ? { extraQueryParams: resource, extraTokenParams: resource } : {}),
  });
}

// React runs effects twice in development; the code in the URL can be redeemed once.
let callbackOnce: Promise<User> | null = null;

export function AuthProvider({ config, children }: { config: UiConfig; children: ReactNode }) {
  const oidc = useMemo(() => userManagerFor(config), [config]);
  const [session, setSession] = useState<Session | null>(() => {
    const key = sessionStorage.getItem(ADMIN_KEY_STORAGE);
    return key ? { kind: "admin-key", token: key } : null;
  });
  const [ready, setReady] = useState(oidc === null);
  const [notice, setNotice] = useState<string | null>(null);
  // What the API client sends: set wherever the session changes, read at call time.
  const [credential] = useState(() => new Credential(session?.token ?? null));

  const end = useCallback(
    (why: string | null) => {
      sessionStorage.removeItem(ADMIN_KEY_STORAGE);
      void oidc?.removeUser();
      credential.set(null);
      setSession(null);
      setNotice(why);
    },
    [oidc, credential],
  );

  const api = useMemo(
    () =>
      createApi({
        basePath: config.base_path,
        getToken: () => credential.get(),
        onUnauthorized: () => {
          if (credential.get()) end("Your session has ended. Log in again to continue.");
        },
      }),
    [config.base_path, end, credential],
  );

  useEffect(() => {
    if (!oidc) return;
    const loaded = (user: User) => {
      credential.set(user.access_token);
      setSession({ kind: "oidc", token: user.access_token, user });
    };
    const expired = () => {
      end("Your session has expired. Log in again to continue.");
    };
    oidc.events.addUserLoaded(loaded);
    oidc.events.addAccessTokenExpired(expired);
    void oidc
      .getUser()
      .then((user) => {
        if (user && !user.expired) loaded(user);
      })
      .finally(() => {
        setReady(true);
      });
    return () => {
      oidc.events.removeUserLoaded(loaded);
      oidc.events.removeAccessTokenExpired(expired);
    };
  }, [oidc, end, credential]);

  const value = useMemo<Auth>(
    () => ({
      config,
      session,
      notice,
      api,
      oidc,
      loginWithKey: async (key) => {
        const token = key.trim();
        const probe = createApi({ basePath: config.base_path, getToken: () => token });
        const me = await probe.get("/api/me", meSchema).catch((e: unknown) => {
          if (e instanceof ApiError && e.status === 401) {
            throw new ApiError(401, e.code, "That is not the admin key. Check it and try again.");
          }
          throw e;
        });
        if (!me.admin) throw new ApiError(403, "forbidden", "That is not the admin key.");
        sessionStorage.setItem(ADMIN_KEY_STORAGE, token);
        credential.set(token);
        setNotice(null);
        setSession({ kind: "admin-key", token });
      },
      loginWithOidc: async (returnTo) => {
        if (!oidc) throw new Error("OIDC login is not configured");
        await oidc.signinRedirect({ state: { returnTo } });
      },
      completeOidcLogin: async () => {
        if (!oidc) throw new Error("OIDC login is not configured");
        callbackOnce ??= oidc.signinRedirectCallback();
        const user = await callbackOnce;
        credential.set(user.access_token);
        setNotice(null);
        setSession({ kind: "oidc", token: user.access_token, user });
        const state = user.state as { returnTo?: unknown } | undefined;
        return typeof state?.returnTo === "string" ? state.returnTo : "/keys";
      },
      logout: async () => {
        const current = session;
        end(null);
        if (current?.kind === "oidc" && oidc) {
          // Ends the session at the provider too; back to the login page afterwards.
          await oidc.signoutRedirect({ id_token_hint: current.user.id_token }).catch(() => undefined);
        }
      },
    }),
    [config, session, notice, api, oidc, end, credential],
  );

  if (!ready) return <p className="page-status">Checking your session…</p>;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
