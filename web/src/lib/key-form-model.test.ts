import { describe, expect, it } from "vitest";
import { createBody, emptyForm, formOf, hostError, patchBody, validateKeyForm, type KeyFormValues } from "./key-form-model";
import { localMidnight } from "./format";
import { type Token, tokenSchema } from "./schemas";
import { limitedToken, token as fixture } from "../test-fixtures";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const form = (patch: Partial<KeyFormValues>): KeyFormValues => ({ ...emptyForm(), name: "ci", ...patch });
const rule = (hosts = "", paths = "", methods: string[] = []) => ({ hosts, paths, methods });

describe("key form validation", () => {
  it("accepts a plain named key", () => {
    expect(validateKeyForm(form({}), NOW)).toEqual({});
  });

  it("needs a name of at most 100 characters without control characters", () => {
    expect(validateKeyForm(form({ name: "  " }), NOW).name).toMatch(/name/);
    expect(validateKeyForm(form({ name: "x".repeat(101) }), NOW).name).toMatch(/100/);
    expect(validateKeyForm(form({ name: "a\tb" }), NOW).name).toMatch(/control/);
    expect(validateKeyForm(form({ name: "x".repeat(100) }), NOW).name).toBeUndefined();
  });

  it("needs a custom expiry date in the future", () => {
    expect(validateKeyForm(form({ expiry: "custom" }), NOW).customDate).toMatch(/Pick the day/);
    expect(validateKeyForm(form({ expiry: "custom", customDate: "2026-06-01" }), NOW).customDate).toMatch(/future/);
    expect(validateKeyForm(form({ expiry: "custom", customDate: "2026-06-02" }), NOW).customDate).toBeUndefined();
  });

  it("checks each rule's hosts, paths and methods as the server does", () => {
    const e = validateKeyForm(
      form({
        rules: [
          rule("https://api.example.com", "v1/*", ["GET"]),
          rule("*.example.com", "/v1/*, /health", ["GET", "POST"]),
          rule(),
          rule("", "/a b", ["GETT"]),
        ],
      }),
      NOW,
    );
    expect(e["rules.0.hosts"]).toMatch(/without scheme/);
    expect(e["rules.0.paths"]).toMatch(/must start with \//);
    expect(e["rules.1.hosts"]).toBeUndefined();
    expect(e["rules.1.paths"]).toBeUndefined();
    expect(e["rules.1.methods"]).toBeUndefined();
    expect(e["rules.2"]).toMatch(/hosts, paths or methods/);
    expect(e["rules.3.paths"]).toMatch(/no spaces|must start/);
    expect(e["rules.3.methods"]).toMatch(/not an HTTP method keygate knows/);
  });

  it("accepts host names and `*.` patterns, and refuses what the server refuses", () => {
    for (const ok of ["api.example.com", "*.example.com", "*", "localhost", "a_b.example.com", "x-1.example.com"]) {
      expect(hostError(ok), ok).toBeNull();
    }
    for (const bad of [".", "a..b", ".com", "example.com.", "-a.example.com", "a-.example.com", `${"a".repeat(64)}.com`, "api.example.com:443", "ex ample.com", "é.example.com"]) {
      expect(hostError(bad), bad).not.toBeNull();
    }
    expect(validateKeyForm(form({ rules: [rule(".", "", [])] }), NOW)["rules.0.hosts"]).toMatch(/doubled/);
  });

  it("checks metadata names, duplicates and sizes", () => {
    const e = validateKeyForm(
      form({
        metadata: [
          { key: "team", value: "core" },
          { key: "team", value: "x" },
          { key: "bad key", value: "x" },
          { key: "big", value: "é".repeat(300) },
        ],
      }),
      NOW,
    );
    expect(e["metadata.0.key"]).toBeUndefined();
    expect(e["metadata.1.key"]).toMatch(/already/);
    expect(e["metadata.2.key"]).toMatch(/letters/);
    expect(e["metadata.3.value"]).toMatch(/512 bytes/);
  });
});

describe("request bodies", () => {
  it("turns presets, rules and metadata into the API's shape", () => {
    const body = createBody(
      form({
        name: " deploy ",
        expiry: "7d",
        rules: [rule("api.example.com", "/v1/*  /v2/*", ["POST", "GET"])],
        metadata: [{ key: "team", value: "core" }],
      }),
      NOW,
    );
    expect(body).toEqual({
      name: "deploy",
      expires_at: "2026-06-08T12:00:00Z",
      rules: [{ hosts: ["api.example.com"], paths: ["/v1/*", "/v2/*"], methods: ["GET", "POST"] }],
      metadata: { team: "core" },
    });
    expect(createBody(form({ expiry: "never" }), NOW).expires_at).toBeNull();
    // A custom day is 00:00 in the browser's zone (the zone the form names).
    expect(createBody(form({ expiry: "custom", customDate: "2027-01-31" }), NOW).expires_at).toBe(localMidnight("2027-01-31"));
  });

  it("leaves the expiry alone when an edit keeps it", () => {
    const token: Token = { ...fixture, id: "t1", name: "ci", hint: "kg_Ab…yz", expires_at: "2026-07-01T08:30:00Z" };
    const v = formOf(token);
    expect(v.expiry).toBe("keep");
    expect("expires_at" in patchBody(v, token.limits, NOW)).toBe(false);
    expect(patchBody({ ...v, expiry: "never", disabled: true }, token.limits, NOW)).toMatchObject({ expires_at: null, disabled: true });
  });
});

describe("limits in key bodies", () => {
  it("are left to the server's defaults unless the form sets them", () => {
    expect("limits" in createBody(form({}), NOW)).toBe(false);
    const v = form({ setLimits: true });
    v.limits.rateLimits = [{ name: "burst", limit: "3", every: "1", unit: "m" }];
    v.limits.credits = true;
    v.limits.remaining = "5";
    expect(createBody(v, NOW).limits).toEqual({
      rate_limits: [{ name: "burst", limit: 3, window: "1m" }],
      credits: { remaining: 5, refill: null },
    });
  });

  it("are checked only when the form sets them", () => {
    const v = form({});
    v.limits.rateLimits = [{ name: "", limit: "0", every: "1", unit: "m" }];
    expect(validateKeyForm(v, NOW)).toEqual({});
    expect(validateKeyForm({ ...v, setLimits: true }, NOW)).toMatchObject({
      "limits.rateLimits.0.name": expect.stringMatching(/name/) as unknown,
      "limits.rateLimits.0.limit": "At least 1.",
    });
  });

  it("say in a PATCH only what changed", () => {
    const v = formOf(limitedToken);
    expect(v.setLimits).toBe(true);
    expect("limits" in patchBody(v, limitedToken.limits, NOW)).toBe(false);
    v.limits.credits = false;
    expect(patchBody(v, limitedToken.limits, NOW).limits).toEqual({ credits: null });
  });
});

describe("roles and permissions in the bodies", () => {
  it("a new key says only what differs from holding nothing and inheriting", () => {
    const b = createBody(form({}), NOW);
    expect("roles" in b || "permissions" in b || "inherit_owner_roles" in b).toBe(false);
    expect(createBody(form({ roles: ["ops"], permissions: ["docs.read"], inheritOwnerRoles: false }), NOW)).toMatchObject({
      roles: ["ops"],
      permissions: ["docs.read"],
      inherit_owner_roles: false,
    });
  });

  it("an edit sends a list only when it changed (in any order), and then whole", () => {
    const held: Token = { ...fixture, roles: ["ops", "docs"], permissions: ["a.b"], inherit_owner_roles: false };
    const v = formOf(held);
    expect(v).toMatchObject({ roles: ["ops", "docs"], permissions: ["a.b"], inheritOwnerRoles: false });
    const same = patchBody({ ...v, roles: ["docs", "ops"] }, held.limits, NOW, held);
    expect("roles" in same || "permissions" in same || "inherit_owner_roles" in same).toBe(false);
    expect(patchBody({ ...v, permissions: ["a.b", "c.*"], inheritOwnerRoles: true }, held.limits, NOW, held)).toMatchObject({
      permissions: ["a.b", "c.*"],
      inherit_owner_roles: true,
    });
    expect(patchBody({ ...v, roles: [] }, held.limits, NOW, held).roles).toEqual([]);
  });

  it("a key from an older server holds nothing and inherits", () => {
    const old: Record<string, unknown> = { ...fixture };
    delete old.roles;
    delete old.permissions;
    delete old.inherit_owner_roles;
    const parsed = tokenSchema.parse(old);
    expect(formOf(parsed)).toMatchObject({ roles: [], permissions: [], inheritOwnerRoles: true });
  });

  it("refuses a malformed permission and too many of either", () => {
    expect(validateKeyForm(form({ permissions: ["docs*"] }), NOW).permissions).toMatch(/stands alone/);
    expect(validateKeyForm(form({ permissions: Array.from({ length: 257 }, (_, i) => `p${i}`) }), NOW).permissions).toMatch(/256/);
    expect(validateKeyForm(form({ roles: Array.from({ length: 65 }, (_, i) => `r${i}`) }), NOW).roles).toMatch(/64/);
  });
});
