// A real OpenID Connect provider for keygate's end-to-end tests.
//
//   node provider.mjs                       listens on 127.0.0.1 on a free port
//   node provider.mjs --ui URL              also serves the web UI's login (URL: the
//                                           UI's base, e.g. http://127.0.0.1:8080/keygate/)
//   node provider.mjs --access-ttl SECONDS  access tokens' lifetime (default 600)
//
// Prints one line of JSON on stdout when ready: {"issuer": "http://127.0.0.1:PORT"}.
// Clients (secret = id + "-secret"), all allowed the client-credentials grant:
//   alice-svc  → sub "alice-svc", groups ["users"]
//   admin-svc  → sub "admin-svc", groups ["admin"]
// With --ui, a public client for the web UI (authorization code + PKCE, no secret):
//   keygate-ui → redirect URIs URL+"callback" and URL+"silent-callback", logout back to
//                URL+"login"; people log in on the provider's built-in development pages
//                with any password: the login name is the subject, and logins that start
//                with "admin" are in the group "admin" (others in "users").
// Access tokens are JWTs for the resource "urn:keygate" (audience "keygate"), through
// resource indicators, carrying `sub`, `groups` and `preferred_username` (extraTokenClaims).
import Provider from "oidc-provider";
import http from "node:http";

const GROUPS = { "alice-svc": ["users"], "admin-svc": ["admin"] };

const uiArg = process.argv.indexOf("--ui");
const ui = uiArg > 0 ? process.argv[uiArg + 1] : undefined;
const ttlArg = process.argv.indexOf("--access-ttl");
const accessTokenTTL = ttlArg > 0 ? Number(process.argv[ttlArg + 1]) : 600;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const clients = Object.keys(GROUPS).map((id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ["client_credentials"],
  redirect_uris: [],
  response_types: [],
}));
if (ui) {
  clients.push({
    client_id: "keygate-ui",
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [`${ui}callback`, `${ui}silent-callback`],
    post_logout_redirect_uris: [`${ui}login`],
  });
}

function groupsOf(token) {
  if (token.accountId) return token.accountId.startsWith("admin") ? ["admin"] : ["users"];
  return GROUPS[token.clientId] || [];
}

const provider = new Provider(issuer, {
  clients,
  cookies: { keys: ["keygate-tests-only-not-a-secret"] },
  // The UI calls the token endpoint from the browser.
  clientBasedCORS: () => true,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: Boolean(ui) },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "urn:keygate",
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "api",
        audience: "keygate",
        accessTokenFormat: "jwt",
        accessTokenTTL,
      }),
    },
  },
  extraTokenClaims: (ctx, token) => ({
    sub: token.accountId ?? token.clientId,
    groups: groupsOf(token),
    ...(token.accountId ? { preferred_username: token.accountId } : {}),
  }),
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));

server.on("request", provider.callback());
console.log(JSON.stringify({ issuer }));
