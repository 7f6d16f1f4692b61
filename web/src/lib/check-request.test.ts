import { describe, expect, it } from "vitest";
import { PLACEHOLDER_HOST, checkCurl, checkRequest, forwardAuthHeaders, serviceCurl, shellQuote } from "./check-request";

const KEY = "kg_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghi";

describe("the request a new key is checked with", () => {
  it("fits the first rule: its first method, a concrete host and path", () => {
    expect(
      checkRequest([
        { hosts: ["*.example.com", "other.example.org"], paths: ["/v1/*", "/health"], methods: ["post", "GET"] },
        { hosts: ["never.used"], paths: [], methods: [] },
      ]),
    ).toEqual({ method: "POST", host: "api.example.com", path: "/v1/example" });
  });

  it("keeps a path prefix as it is and fills every star of a glob", () => {
    expect(checkRequest([{ hosts: ["api-*.internal"], paths: ["/v1/*/items/*"], methods: [] }])).toEqual({
      method: "GET",
      host: "api-api.internal",
      path: "/v1/example/items/example",
    });
    expect(checkRequest([{ hosts: [], paths: ["/metrics"], methods: [] }]).path).toBe("/metrics");
  });

  it("is a plain GET / without rules, to a host that is plainly a blank to fill in", () => {
    expect(checkRequest([])).toEqual({ method: "GET", host: PLACEHOLDER_HOST, path: "/" });
    expect(PLACEHOLDER_HOST).toBe("YOUR-API-HOST");
    expect(checkRequest([{ hosts: ["*"], paths: ["/v1"], methods: [] }]).host).toBe(PLACEHOLDER_HOST);
  });

  it("takes a host another rule names when the first takes any", () => {
    const rules = [
      { hosts: [], paths: ["/health"], methods: [] },
      { hosts: ["*", "billing.example.com"], paths: [], methods: [] },
    ];
    expect(checkRequest(rules)).toEqual({ method: "GET", host: "billing.example.com", path: "/health" });
  });

  it("sends the headers a proxy sends", () => {
    expect(forwardAuthHeaders(KEY, { method: "PUT", host: "a.example.com", path: "/x" })).toEqual([
      ["Authorization", `Bearer ${KEY}`],
      ["X-Forwarded-Method", "PUT"],
      ["X-Forwarded-Host", "a.example.com"],
      ["X-Forwarded-Uri", "/x"],
    ]);
  });

  it("writes curl commands that a shell reads back unchanged", () => {
    const rules = [{ hosts: ["*.example.com"], paths: ["/v1/*"], methods: ["DELETE"] }];
    expect(checkCurl("https://gate.example.com/forward-auth", KEY, rules)).toBe(
      [
        "curl -i",
        `-H 'Authorization: Bearer ${KEY}'`,
        "-H 'X-Forwarded-Method: DELETE'",
        "-H 'X-Forwarded-Host: api.example.com'",
        "-H 'X-Forwarded-Uri: /v1/example'",
        "https://gate.example.com/forward-auth",
      ].join(" \\\n  "),
    );
    expect(serviceCurl(KEY, rules)).toBe(`curl -X DELETE -H 'Authorization: Bearer ${KEY}' https://api.example.com/v1/example`);
    expect(shellQuote("/it's")).toBe(`'/it'\\''s'`);
  });
});
