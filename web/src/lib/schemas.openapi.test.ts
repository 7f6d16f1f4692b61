// The zod schemas that parse keygate's answers, checked against its OpenAPI document.
//
// The document is a snapshot, openapi.snapshot.json (a Rust test fails when it differs
// from what the server serves). Refresh it after changing the API:
//
//   cargo build && (cd web && npm run openapi:snapshot)
//
// scripts/openapi-snapshot.mjs starts target/debug/keygate (or $KEYGATE_BIN) with
// `serve --port 0` in a scratch directory, saves its GET /openapi.json pretty-printed
// in the order served (serde_json's to_string_pretty, plus a newline), and stops it.
// Then run this test: a new difference is fixed in schemas.ts or, if deliberate,
// listed in `accepted` below with why.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compareShapes, shapeOf, zodShape } from "./openapi-compare";
import snapshot from "./openapi.snapshot.json";
import {
  addCreditsSchema,
  allUsageSchema,
  auditPageSchema,
  createdSchema,
  deliveryPageSchema,
  deliverySchema,
  errorBodySchema,
  eventTypesSchema,
  grantsSchema,
  keyPermissionsSchema,
  meSchema,
  ownerLimitsSchema,
  ownerPageSchema,
  recentPageSchema,
  ownerRolesSchema,
  ownerUsageSchema,
  roleListSchema,
  roleSchema,
  tokenPageSchema,
  tokenSchema,
  usageSeriesSchema,
  webhookEndpointSchema,
  webhookListSchema,
  webhookSecretSchema,
} from "./schemas";

const doc = snapshot as unknown as Record<string, unknown>;
type Operations = Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
const paths = doc.paths as Operations;

/** The JSON schema of an operation's answer with `status`. */
function answer(method: string, path: string, status: string): unknown {
  const schema = paths[path]?.[method]?.responses?.[status]?.content?.["application/json"]?.schema;
  if (schema === undefined) throw new Error(`the document has no JSON ${status} answer for ${method.toUpperCase()} ${path}`);
  return schema;
}

/** Every call the client makes whose answer it parses, with the schema it parses it with. */
const calls: [z.ZodType, string, string, string][] = [
  [meSchema, "get", "/api/me", "200"],
  [tokenPageSchema, "get", "/api/me/tokens", "200"],
  [tokenPageSchema, "get", "/api/users/{sub}/tokens", "200"],
  [tokenPageSchema, "get", "/api/tokens", "200"],
  [tokenSchema, "get", "/api/me/tokens/{id}", "200"],
  [tokenSchema, "get", "/api/tokens/{id}", "200"],
  [tokenSchema, "patch", "/api/me/tokens/{id}", "200"],
  [tokenSchema, "patch", "/api/users/{sub}/tokens/{id}", "200"],
  [createdSchema, "post", "/api/me/tokens", "201"],
  [createdSchema, "post", "/api/users/{sub}/tokens", "201"],
  [createdSchema, "post", "/api/me/tokens/{id}/rotate", "201"],
  [createdSchema, "post", "/api/users/{sub}/tokens/{id}/rotate", "201"],
  [tokenSchema, "post", "/api/tokens/{id}/credits", "200"],
  [ownerLimitsSchema, "get", "/api/me/limits", "200"],
  [ownerLimitsSchema, "get", "/api/users/{sub}/limits", "200"],
  [ownerLimitsSchema, "put", "/api/users/{sub}/limits", "200"],
  [ownerPageSchema, "get", "/api/users", "200"],
  [auditPageSchema, "get", "/api/audit", "200"],
  [usageSeriesSchema, "get", "/api/me/tokens/{id}/usage", "200"],
  [usageSeriesSchema, "get", "/api/tokens/{id}/usage", "200"],
  [ownerUsageSchema, "get", "/api/me/usage", "200"],
  [ownerUsageSchema, "get", "/api/users/{sub}/usage", "200"],
  [allUsageSchema, "get", "/api/usage", "200"],
  [recentPageSchema, "get", "/api/me/tokens/{id}/recent", "200"],
  [recentPageSchema, "get", "/api/users/{sub}/tokens/{id}/recent", "200"],
  [recentPageSchema, "get", "/api/tokens/{id}/recent", "200"],
  [roleListSchema, "get", "/api/roles", "200"],
  [roleSchema, "post", "/api/roles", "201"],
  [roleSchema, "patch", "/api/roles/{name}", "200"],
  [ownerRolesSchema, "get", "/api/users/{sub}/roles", "200"],
  [ownerRolesSchema, "put", "/api/users/{sub}/roles", "200"],
  [grantsSchema, "get", "/api/me/grants", "200"],
  [keyPermissionsSchema, "get", "/api/me/tokens/{id}/permissions", "200"],
  [keyPermissionsSchema, "get", "/api/users/{sub}/tokens/{id}/permissions", "200"],
  [keyPermissionsSchema, "get", "/api/tokens/{id}/permissions", "200"],
  [webhookListSchema, "get", "/api/webhooks", "200"],
  [webhookSecretSchema, "post", "/api/webhooks", "201"],
  [webhookEndpointSchema, "get", "/api/webhooks/{id}", "200"],
  [webhookEndpointSchema, "patch", "/api/webhooks/{id}", "200"],
  [webhookSecretSchema, "post", "/api/webhooks/{id}/rotate-secret", "200"],
  [eventTypesSchema, "get", "/api/webhooks/types", "200"],
  [deliverySchema, "post", "/api/webhooks/{id}/test", "202"],
  [deliveryPageSchema, "get", "/api/webhooks/{id}/deliveries", "200"],
  [deliverySchema, "get", "/api/webhooks/{id}/deliveries/{delivery}", "200"],
  [deliverySchema, "post", "/api/webhooks/{id}/deliveries/{delivery}/replay", "202"],
];

/**
 * Where the client knowingly differs from the document, and why. The test fails when a
 * difference appears that is not here, and when one listed here is gone.
 */
const accepted: Record<string, string> = {
  "Me.may_raise_limits: required in OpenAPI, optional in zod": "older servers leave it out: then no (schemas.ts)",
  "TokenPage.total: required in OpenAPI, optional in zod": "older servers do not count: the UI counts the pages then",
  // Plain Strings on the server, their values listed in its docs only; the client names
  // the values it knows how to show.
  "TokenView.status: enum (any string) in OpenAPI, [active, disabled, expired, rotating] in zod": "a String on the server",
  "OwnerLimitsView.source: enum (any string) in OpenAPI, [default, none, owner] in zod": "a String on the server",
  // `#[serde(default)]` (for reading stored records) makes utoipa call these optional;
  // the server always writes them.
  "AuditEvent.seq: optional in OpenAPI, required in zod": "always written (serde(default) is for reading)",
  "LimitsView.rate_limits: optional in OpenAPI, required in zod": "always written (serde(default) is for reading)",
};

/** Every difference between the client's schemas and the document, one line each. */
function differences(): string[] {
  const out = new Set<string>();
  for (const [schema, method, path, status] of calls) {
    for (const d of compareShapes(shapeOf(answer(method, path, status), doc), zodShape(schema))) out.add(d);
  }
  return [...out].sort();
}

describe("zod schemas against the OpenAPI document", () => {
  it("the snapshot is an OpenAPI document", () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(paths)).toContain("/api/me");
  });

  it("every answer the client parses matches its schema, but for the differences accepted", () => {
    const found = differences();
    expect(found.filter((d) => !(d in accepted)), "new differences").toEqual([]);
    expect(Object.keys(accepted).filter((d) => !found.includes(d)), "accepted differences that are gone").toEqual([]);
  });

  it("the bodies the client sends match the document's request bodies", () => {
    const body = (method: string, path: string) => {
      const op = paths[path]?.[method] as unknown as { requestBody?: { content?: Record<string, { schema?: unknown }> } } | undefined;
      const schema = op?.requestBody?.content?.["application/json"]?.schema;
      if (schema === undefined) throw new Error(`the document has no JSON request body for ${method.toUpperCase()} ${path}`);
      return schema;
    };
    expect(compareShapes(shapeOf(body("post", "/api/tokens/{id}/credits"), doc), zodShape(addCreditsSchema))).toEqual([]);
  });

  it("error answers match errorBodySchema", () => {
    let checked = 0;
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const status of Object.keys(op.responses ?? {}).filter((s) => Number(s) >= 400)) {
          expect(compareShapes(shapeOf(answer(method, path, status), doc), zodShape(errorBodySchema)), `${method} ${path} ${status}`).toEqual([]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("every schema the queries parse with is checked here", () => {
    const sources = import.meta.glob<string>("./queries/*.ts", { query: "?raw", import: "default", eager: true });
    const used = new Set(Object.values(sources).flatMap((src) => [...src.matchAll(/\b([a-z]\w*Schema)\b/g)].map((m) => m[1])));
    const checked = new Set(calls.map(([s]) => s));
    const byName: Record<string, unknown> = {
      allUsageSchema,
      auditPageSchema,
      createdSchema,
      deliveryPageSchema,
      deliverySchema,
      eventTypesSchema,
      grantsSchema,
      keyPermissionsSchema,
      meSchema,
      ownerLimitsSchema,
      ownerPageSchema,
      ownerRolesSchema,
      ownerUsageSchema,
      recentPageSchema,
      roleListSchema,
      roleSchema,
      tokenPageSchema,
      tokenSchema,
      usageSeriesSchema,
      webhookEndpointSchema,
      webhookListSchema,
      webhookSecretSchema,
    };
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) {
      expect(name && byName[name] !== undefined && checked.has(byName[name] as z.ZodType), `${String(name)} is checked`).toBe(true);
    }
  });
});

describe("the comparison", () => {
  const me = shapeOf(answer("get", "/api/me", "200"), doc);

  it("catches a wrong type, a wrong enum, a wrong nullability and a required field left optional", () => {
    const wrong = z.object({
      subject: z.string().optional(),
      admin: z.string(),
      auth: z.enum(["oidc", "password"]),
      name: z.string().optional(),
      single_operator: z.boolean().nullable(),
      may_raise_limits: z.boolean(),
      extra: z.number(),
    });
    expect(compareShapes(me, zodShape(wrong))).toEqual([
      "Me.admin: boolean in OpenAPI, string in zod",
      "Me.auth: enum [admin-key, oidc] in OpenAPI, [oidc, password] in zod",
      "Me.extra: in zod, not in OpenAPI",
      "Me.single_operator: never null in OpenAPI, nullable in zod",
      "Me.subject: required in OpenAPI, optional in zod",
    ]);
  });

  it("tells integers from numbers, and finds differences inside lists", () => {
    const page = shapeOf(answer("get", "/api/users", "200"), doc);
    const wrong = ownerPageSchema.extend({ owners: z.array(z.object({ owner: z.string(), keys: z.number() })) });
    expect(compareShapes(page, zodShape(wrong))).toEqual(["Owner.keys: integer in OpenAPI, number in zod"]);
    expect(compareShapes(page, zodShape(ownerPageSchema))).toEqual([]);
  });

  it("requires a value the document may leave out or null to be optional or nullable", () => {
    const wrong = meSchema.extend({ name: z.string() });
    expect(compareShapes(me, zodShape(wrong))).toContain("Me.name: may be null or missing in OpenAPI, zod requires a value");
    expect(compareShapes(me, zodShape(meSchema.extend({ name: z.string().nullable() })))).not.toContain(
      "Me.name: may be null or missing in OpenAPI, zod requires a value",
    );
  });
});
