// A real OpenID Connect provider for keygate's end-to-end tests.
//
//   node provider.mjs            listens on 127.0.0.1 on a free port
//
// Prints one line of JSON on stdout when ready: {"issuer": "http://127.0.0.1:PORT"}.
// Clients (secret = id + "-secret"), all allowed the client-credentials grant:
//   alice-svc  → sub "alice-svc", groups ["users"]
//   admin-svc  → sub "admin-svc", groups ["admin"]
// Access tokens are JWTs for the resource "urn:keygate" (audience "keygate"), through
// resource indicators, carrying `sub` and `groups` (extraTokenClaims).
import Provider from "oidc-provider";
import http from "node:http";

const GROUPS = { "alice-svc": ["users"], "admin-svc": ["admin"] };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: Object.keys(GROUPS).map((id) => ({
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "urn:keygate",
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "api",
        audience: "keygate",
        accessTokenFormat: "jwt",
        accessTokenTTL: 600,
      }),
    },
  },
  extraTokenClaims: (ctx, token) => ({
    sub: token.clientId,
    groups: GROUPS[token.clientId] || [],
  }),
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));

server.on("request", provider.callback());
console.log(JSON.stringify({ issuer }));
