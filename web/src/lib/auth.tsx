// Who is logged in, and how: an OIDC session (authorization code + PKCE, renewed
// silently) or the admin key of single-operator mode, kept in sessionStorage only.
// Every API call goes through the one client made here; a 401 ends the session and
// the router sends the user to the login page with a notice, and back where they were
// once logged in again. While something on screen would be lost by leaving (a form
// with input, a new key not yet copied: see useUnsavedGuard), an ended session is only
// announced, and the user leaves when ready.
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
  /** The session has ended while something unsaved was on screen: why. */
  ended: string | null;
  /** Leaves for the login page now, unsaved input or not. */
  leaveEnded: () => void;
  /** Holds an ended session's screen while active; returns the release. */
  holdScreen: () => () => void;
}

const AuthContext = createContext<Auth | null>(null);

/** Parts of the screen holding unsaved input, and why the session ended meanwhile. */
class ScreenHolds {
  private count = 0;
  private why: string | null = null;
  /** One more part holds the screen. */
  hold() {
    this.count++;
  }
  /** One part lets go; true when none holds it any more. */
  release(): boolean {
    this.count--;
    return this.count === 0;
  }
  held() {
    return this.count > 0;
  }
  /** Why the session ended while the screen was held (null: it has not). */
  endedWhy() {
    return this.why;
  }
  noteEnded(why: string | null) {
    this.why = why;
  }
}

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

/**
 * While `active` (a form has input, a key has not been copied), an ended session does
 * not take the user away: they are told, and go to log in again when ready. Outside an
 * AuthProvider (component tests) it does nothing.
 */
export function useUnsavedGuard(active: boolean) {
  const hold = useContext(AuthContext)?.holdScreen;
  useEffect(() => {
    if (!active || !hold) return;
    return hold();
  }, [active, hold]);
}

/** Why the session ended, while the screen is held for unsaved input; else null. */
export function useSessionEnded(): { why: string; leave: () => void } | null {
  const a = useContext(AuthContext);
  return a?.ended ? { why: a.ended, leave: a.leaveEnded } : null;
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

  // How many parts of the screen hold unsaved input (see useUnsavedGuard), and why the
  // session ended while they did; read by callbacks only, never during render.
  const [holds] = useState(() => new ScreenHolds());
  const [ended, setEnded] = useState<string | null>(null);

  const leave = useCallback(
    (why: string | null) => {
      holds.noteEnded(null);
      setEnded(null);
      setSession(null);
      setNotice(why);
    },
    [holds],
  );

  const holdScreen = useCallback(() => {
    holds.hold();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The held input was saved or dropped: nothing keeps the user any more.
      const why = holds.endedWhy();
      if (holds.release() && why !== null) leave(why);
    };
  }, [holds, leave]);

  const end = useCallback(
    (why: string | null) => {
      sessionStorage.removeItem(ADMIN_KEY_STORAGE);
      void oidc?.removeUser();
      credential.set(null);
      // Something unsaved on screen: say so, and let the user leave when ready.
      if (why !== null && holds.held()) {
        holds.noteEnded(why);
        setEnded(why);
      } else leave(why);
    },
    [oidc, credential, holds, leave],
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
      holds.noteEnded(null);
      setEnded(null);
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
  }, [oidc, end, credential, holds]);

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
      ended,
      leaveEnded: () => {
        leave(ended);
      },
      holdScreen,
    }),
    [config, session, notice, api, oidc, end, credential, ended, leave, holdScreen],
  );

  if (!ready) return <p className="page-status">Checking your session…</p>;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
