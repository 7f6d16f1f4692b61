import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { ApiError, createApi } from "./api";
import { meSchema } from "./schemas";

function json(status: number, body: unknown, statusText = "") {
  return new Response(JSON.stringify(body), {
    status,
    statusText,
    headers: { "Content-Type": "application/json" },
  });
}

function client(res: Response | Error, token: string | null = "tok") {
  const fetch = vi.fn((_url: string, _init?: RequestInit) =>
    res instanceof Error ? Promise.reject(res) : Promise.resolve(res),
  );
  const onUnauthorized = vi.fn();
  const api = createApi({ basePath: "/keygate", getToken: () => token, onUnauthorized, fetch: fetch as unknown as typeof globalThis.fetch });
  return { api, fetch, onUnauthorized };
}

const me = { subject: "alice", admin: false, auth: "oidc", single_operator: false };

describe("api client", () => {
  it("sends the credential under the base path and returns the checked body", async () => {
    const { api, fetch } = client(json(200, me));
    // An older server says nothing of limits: then they may not be raised.
    await expect(api.get("/api/me", meSchema)).resolves.toEqual({ ...me, may_raise_limits: false });
    const [url, init] = fetch.mock.calls[0] ?? [];
    expect(url).toBe("/keygate/api/me");
    expect((init?.headers as Record<string, string>).Authorization).toBe("Bearer tok");
  });

  it("reads whether limits may be raised", async () => {
    const { api } = client(json(200, { ...me, may_raise_limits: true }));
    await expect(api.get("/api/me", meSchema)).resolves.toMatchObject({ may_raise_limits: true });
  });

  it("sends JSON bodies", async () => {
    const { api, fetch } = client(json(200, me));
    await api.send("PATCH", "/api/me/tokens/x", { name: "n" }, meSchema);
    const init = fetch.mock.calls[0]?.[1];
    expect(init?.method).toBe("PATCH");
    expect(init?.body).toBe('{"name":"n"}');
    expect((init?.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("sends no Authorization header without a credential", async () => {
    const { api, fetch } = client(json(200, me), null);
    await api.get("/api/me", meSchema);
    expect((fetch.mock.calls[0]?.[1]?.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it("throws the server's error code, message and field on a refusal", async () => {
    const { api, onUnauthorized } = client(
      json(422, { error: "invalid", message: "name: must be 1 to 100 characters", field: "name" }),
    );
    const e = await api.send("POST", "/api/me/tokens", { name: "" }, meSchema).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 422, code: "invalid", field: "name", message: "name: must be 1 to 100 characters" });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("reports a 401 to the app before throwing", async () => {
    const { api, onUnauthorized } = client(json(401, { error: "unauthorized", message: "the token has expired" }));
    await expect(api.get("/api/me", meSchema)).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(onUnauthorized.mock.calls[0]?.[0]).toBeInstanceOf(ApiError);
  });

  it("turns a non-JSON error page into a readable error", async () => {
    const { api } = client(new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    await expect(api.get("/api/me", meSchema)).rejects.toMatchObject({
      status: 502,
      code: "http",
      message: "keygate answered 502 Bad Gateway.",
    });
  });

  it("turns a network failure into an error with status 0", async () => {
    const { api } = client(new TypeError("Failed to fetch"));
    await expect(api.get("/api/me", meSchema)).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("refuses an answer of the wrong shape", async () => {
    const { api } = client(json(200, { subject: 1 }));
    await expect(api.get("/api/me", meSchema)).rejects.toMatchObject({ code: "bad_response" });
    const { api: api2 } = client(new Response("not json", { status: 200 }));
    await expect(api2.get("/api/me", z.object({}))).rejects.toMatchObject({ code: "bad_response" });
  });

  it("accepts an empty 204", async () => {
    const { api } = client(new Response(null, { status: 204 }));
    await expect(api.sendEmpty("DELETE", "/api/me/tokens/x")).resolves.toBeUndefined();
  });
});

describe("api client: files", () => {
  it("fetches a file with the credential under the base path", async () => {
    const { api, fetch } = client(new Response("seq,at\r\n1,x\r\n", { status: 200, headers: { "Content-Type": "text/csv" } }));
    const blob = await api.getFile("/api/audit/export?format=csv");
    await expect(blob.text()).resolves.toBe("seq,at\r\n1,x\r\n");
    const [url, init] = fetch.mock.calls[0] ?? [];
    expect(url).toBe("/keygate/api/audit/export?format=csv");
    expect(init?.method).toBe("GET");
    expect((init?.headers as Record<string, string>).Authorization).toBe("Bearer tok");
  });

  it("reports a refused export like any other refusal", async () => {
    const { api, onUnauthorized } = client(json(401, { error: "unauthorized", message: "the token has expired" }));
    await expect(api.getFile("/api/audit/export")).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    const { api: api2 } = client(json(422, { error: "invalid", message: "format: csv or json", field: "format" }));
    await expect(api2.getFile("/api/audit/export?format=x")).rejects.toMatchObject({ status: 422, field: "format" });
  });

  it("reads a 429's Retry-After in seconds", async () => {
    const res = json(429, { error: "too_many_failures", message: "too many failed attempts" });
    res.headers.set("Retry-After", "37");
    const { api } = client(res);
    await expect(api.get("/api/me", meSchema)).rejects.toMatchObject({ status: 429, retryAfter: 37 });
    const { api: plain } = client(json(429, { error: "rate_limited", message: "slow down" }));
    await expect(plain.get("/api/me", meSchema)).rejects.toMatchObject({ status: 429, retryAfter: undefined });
  });
});
