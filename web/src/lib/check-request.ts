// A request that a new key's rules let through, for the snippets shown with the key:
// the gate answers 204 to it only if the method, host and path fit the key's first rule.
import type { Rule } from "./schemas";

export interface CheckRequest {
  method: string;
  host: string;
  /** The path, starting with "/". */
  path: string;
}

/** What stands in for `*` in a host glob ("*.example.com" → "api.example.com"). */
const HOST_STAR = "api";
/**
 * Where the snippets aim when no rule names a host: plainly a blank to fill in, never a
 * real-looking one (nor keygate's own address, which is not the service behind it).
 */
export const PLACEHOLDER_HOST = "YOUR-API-HOST";

/** A host a rule names, as a request would send it; none for "*" (any host). */
function concrete(host: string | undefined): string | undefined {
  if (host === undefined || host.replaceAll("*", "").replaceAll(".", "") === "") return undefined;
  return host.replaceAll("*", HOST_STAR);
}
/** What stands in for `*` in a path glob ("/v1/*" → "/v1/example"). */
const PATH_STAR = "example";

/**
 * A concrete request the key's first rule allows: its first method, its first host
 * with every `*` filled in, its first path (a glob with every `*` filled in, a prefix
 * as it is). Where the first rule takes any host, the first host another rule names
 * (the first rule lets it through too), else PLACEHOLDER_HOST; where it leaves the
 * method or path open, GET and "/".
 */
export function checkRequest(rules: Rule[]): CheckRequest {
  const r = rules[0];
  // The first rule takes any host: without hosts, or with "*" among them.
  const anyHost = !r || r.hosts.length === 0 || r.hosts.some((h) => concrete(h) === undefined);
  const host = concrete(r?.hosts[0]) ?? (anyHost ? anyNamedHost(rules) : undefined);
  const path = r?.paths[0];
  return {
    method: r?.methods[0]?.toUpperCase() ?? "GET",
    host: host ?? PLACEHOLDER_HOST,
    path: path ? path.replaceAll("*", PATH_STAR) : "/",
  };
}

function anyNamedHost(rules: Rule[]): string | undefined {
  for (const r of rules) {
    for (const h of r.hosts) {
      const c = concrete(h);
      if (c) return c;
    }
  }
  return undefined;
}

/** `s` as one POSIX shell word. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The headers a proxy sends keygate's /forward-auth for that request. */
export function forwardAuthHeaders(key: string, req: CheckRequest): [string, string][] {
  return [
    ["Authorization", `Bearer ${key}`],
    ["X-Forwarded-Method", req.method],
    ["X-Forwarded-Host", req.host],
    ["X-Forwarded-Uri", req.path],
  ];
}

/** curl asking the gate about that request, as a proxy would: expect 204. */
export function checkCurl(gateUrl: string, key: string, rules: Rule[]): string {
  const headers = forwardAuthHeaders(key, checkRequest(rules));
  return ["curl -i", ...headers.map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)}`), shellQuote(gateUrl)].join(" \\\n  ");
}

/** curl calling the service behind the proxy with the key, the same request. */
export function serviceCurl(key: string, rules: Rule[]): string {
  const req = checkRequest(rules);
  const method = req.method === "GET" ? [] : [`-X ${req.method}`];
  return ["curl", ...method, `-H ${shellQuote(`Authorization: Bearer ${key}`)}`, shellQuote(`https://${req.host}${req.path}`)].join(" ");
}
