import { describe, expect, it } from "vitest";
import { deliveryRefreshMs } from "./queries/webhooks";
import type { WebhookEndpoint } from "./schemas";
import {
  emptyWebhookForm,
  endpointState,
  eventFamilies,
  parseOwners,
  prettyJson,
  urlError,
  validateWebhook,
  wants,
  webhookBodyOf,
  webhookFieldOf,
  webhookFormOf,
  webhookPatchOf,
} from "./webhooks";

const endpoint: WebhookEndpoint = {
  id: "ep_1",
  url: "https://hooks.example.com/keygate",
  description: "Billing",
  event_types: ["key.*"],
  owners: ["alice", "bob"],
  disabled: false,
  created_at: "2026-05-01T00:00:00Z",
  secret_hint: "whsec_AbCd…",
  signing_secrets: 1,
};

describe("the webhook form's model", () => {
  it("reads owners one per line or comma-separated, without blanks or repeats", () => {
    expect(parseOwners(" alice , bob\n\ncarol@example.com\nalice,")).toEqual(["alice", "bob", "carol@example.com"]);
    expect(parseOwners("  \n , ")).toEqual([]);
  });

  it("tells what is wrong with a URL before sending it", () => {
    expect(urlError("")).toMatch(/Enter the URL/);
    expect(urlError("hooks.example.com")).toMatch(/whole URL/);
    expect(urlError("ftp://hooks.example.com/")).toMatch(/http:\/\/ or https:\/\//);
    expect(urlError("https://me:pw@hooks.example.com/")).toMatch(/credentials/);
    expect(urlError("https://hooks.example.com/#x")).toMatch(/fragment/);
    expect(urlError(`https://hooks.example.com/${"a".repeat(2048)}`)).toMatch(/At most 2048/);
    // The address is the server's to judge.
    expect(urlError("http://169.254.169.254/")).toBeUndefined();
    expect(urlError(" https://hooks.example.com/keygate ")).toBeUndefined();
  });

  it("needs a type ticked when not every type is wanted", () => {
    expect(validateWebhook({ ...emptyWebhookForm, url: "https://h.example.com/" })).toEqual({});
    const errors = validateWebhook({ ...emptyWebhookForm, url: "x", allEvents: false, description: "d".repeat(501) });
    expect(Object.keys(errors).sort()).toEqual(["description", "event_types", "url"]);
    const many = Array.from({ length: 65 }, (_, i) => `o${String(i)}`).join("\n");
    expect(validateWebhook({ ...emptyWebhookForm, url: "https://h/", owners: many }).owners).toMatch(/At most 64 owners/);
  });

  it("sends every type as an empty list, and only what changed on an edit", () => {
    expect(webhookBodyOf({ ...emptyWebhookForm, url: " https://h/ ", eventTypes: ["key.created"], owners: "a, b" })).toEqual({
      url: "https://h/",
      description: "",
      event_types: [],
      owners: ["a", "b"],
    });
    const form = webhookFormOf(endpoint);
    expect(form).toEqual({ url: endpoint.url, description: "Billing", allEvents: false, eventTypes: ["key.*"], owners: "alice\nbob" });
    expect(webhookPatchOf(form, endpoint)).toEqual({});
    expect(webhookPatchOf({ ...form, description: "Money", allEvents: true, owners: "alice" }, endpoint)).toEqual({
      description: "Money",
      event_types: [],
      owners: ["alice"],
    });
  });

  it("knows which field a refusal is about", () => {
    expect(webhookFieldOf("url")).toBe("url");
    expect(webhookFieldOf("owners[2]")).toBe("owners");
    expect(webhookFieldOf("overlap_secs")).toBeNull();
    expect(webhookFieldOf(undefined)).toBeNull();
  });
});

describe("event types and states", () => {
  it("groups types by family, in the order given", () => {
    const groups = eventFamilies([
      { type: "key.created", description: "" },
      { type: "ratelimit.exceeded", description: "" },
      { type: "key.revoked", description: "" },
      { type: "owner.ratelimit.exceeded", description: "" },
    ]);
    expect(groups.map((g) => [g.family, g.types.map((t) => t.type)])).toEqual([
      ["key", ["key.created", "key.revoked"]],
      ["ratelimit", ["ratelimit.exceeded"]],
      ["owner", ["owner.ratelimit.exceeded"]],
    ]);
  });

  it("matches types as the server does", () => {
    expect(wants([], "key.created")).toBe(true);
    expect(wants(["key.*"], "key.created")).toBe(true);
    expect(wants(["key.*"], "keys.created")).toBe(false);
    expect(wants(["owner.*"], "owner.ratelimit.exceeded")).toBe(true);
    expect(wants(["key.revoked"], "key.created")).toBe(false);
  });

  it("says whether an endpoint is active, failing or disabled, and why", () => {
    expect(endpointState(endpoint)).toEqual({ kind: "active" });
    expect(endpointState({ ...endpoint, failing_since: "2026-05-02T00:00:00Z" })).toEqual({ kind: "failing", since: "2026-05-02T00:00:00Z" });
    expect(endpointState({ ...endpoint, disabled: true, disabled_reason: "410 Gone", failing_since: "2026-05-02T00:00:00Z" })).toEqual({
      kind: "disabled",
      reason: "410 Gone",
    });
    expect(endpointState({ ...endpoint, disabled: true })).toEqual({ kind: "disabled", reason: null });
  });

  it("pretty-prints a payload, and leaves what is not JSON as it is", () => {
    expect(prettyJson('{"type":"key.created","data":{"id":"k1"}}')).toBe('{\n  "type": "key.created",\n  "data": {\n    "id": "k1"\n  }\n}');
    expect(prettyJson("not json")).toBe("not json");
  });
});

describe("how often deliveries are read again", () => {
  const base = {
    id: "d",
    endpoint_id: "ep_1",
    event_id: "evt",
    event_type: "key.created",
    event_at: "2026-05-01T00:00:00Z",
    created_ms: 0,
    attempts: [],
    tries: 0,
    replays: 0,
    replay_pending: false,
    payload: "{}",
  };
  it("every second while an attempt is due within seconds, else every five", () => {
    const now = 1_000_000;
    expect(deliveryRefreshMs([], now)).toBe(5000);
    expect(deliveryRefreshMs([{ ...base, state: "delivered" }], now)).toBe(5000);
    expect(deliveryRefreshMs([{ ...base, state: "pending", next_attempt_at_ms: now + 2000 }], now)).toBe(1000);
    expect(deliveryRefreshMs([{ ...base, state: "pending", next_attempt_at_ms: now - 60_000 }], now)).toBe(1000);
    // The next retry in half an hour: no need to ask every second.
    expect(deliveryRefreshMs([{ ...base, state: "pending", next_attempt_at_ms: now + 1_800_000 }], now)).toBe(5000);
  });
});
