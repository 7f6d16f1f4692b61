import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route as RouterRoute, Routes, useLocation } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { Delivery, WebhookEndpoint } from "../lib/schemas";
import { json, mockApi, renderWithApi, type Route } from "../test-render";
import { WebhookPage } from "./webhook-page";

const endpoint: WebhookEndpoint = {
  id: "ep_1",
  url: "https://hooks.example.com/keygate",
  description: "Mirror of key changes",
  event_types: [],
  owners: [],
  disabled: false,
  created_at: "2026-05-01T00:00:00Z",
  failing_since: "2026-05-01T12:00:01Z",
  secret_hint: "whsec_AbCd…",
  signing_secrets: 1,
};

const ms = (iso: string) => Date.parse(iso);
const payload = '{"type":"key.created","timestamp":"2026-05-01T12:00:00Z","data":{"key":{"id":"k1","name":"deploys"}}}';
const delivered: Delivery = {
  id: "evt_a.ep_1",
  endpoint_id: "ep_1",
  event_id: "evt_a",
  event_type: "key.created",
  owner: "alice",
  event_at: "2026-05-01T12:00:00Z",
  created_ms: ms("2026-05-01T12:00:00Z"),
  state: "delivered",
  attempts: [
    { at: "2026-05-01T12:00:00Z", status: 200, duration_ms: 42, response: '{"received": true}', replay: false },
    { at: "2026-05-01T12:30:00Z", status: 200, duration_ms: 1500, response: "ok", replay: true },
  ],
  tries: 0,
  replays: 1,
  replay_pending: false,
  payload,
};
const pending: Delivery = {
  id: "evt_b.ep_1",
  endpoint_id: "ep_1",
  event_id: "evt_b",
  event_type: "key.revoked",
  owner: "bob",
  event_at: "2026-05-01T12:00:01Z",
  created_ms: ms("2026-05-01T12:00:01Z"),
  state: "pending",
  next_attempt_at_ms: ms("2026-05-01T12:05:01Z"),
  attempts: [{ at: "2026-05-01T12:00:01Z", status: 503, duration_ms: 3, error: "the endpoint answered 503", response: "not now", replay: false }],
  tries: 1,
  replays: 0,
  replay_pending: false,
  payload: '{"type":"key.revoked"}',
};
const failed: Delivery = {
  ...pending,
  id: "evt_c.ep_1",
  event_id: "evt_c",
  event_type: "webhook.test",
  owner: null,
  created_ms: ms("2026-05-01T12:00:02Z"),
  state: "failed",
  next_attempt_at_ms: null,
  attempts: [{ at: "2026-05-01T12:00:02Z", duration_ms: 10_000, error: "timed out after 10 s", response: "", replay: false }],
};

function Where() {
  const l = useLocation();
  return <p data-testid="where">{l.pathname + l.search}</p>;
}

function setup(routes: Record<string, Route>, at = "/admin/webhooks/ep_1") {
  const api = mockApi({
    "GET /api/webhooks/ep_1": () => json(200, endpoint),
    ...routes,
  });
  renderWithApi(
    <>
      <Routes>
        <RouterRoute path="/admin/webhooks/:id" element={<WebhookPage />} />
      </Routes>
      <Where />
    </>,
    at,
  );
  return { api, user: userEvent.setup() };
}

const rowOf = async (type: string) => (await screen.findByText(type, { selector: ".delivery-event code" })).closest("tr") as HTMLElement;

describe("an endpoint's page and its deliveries", () => {
  it("shows the endpoint, and each delivery's state, attempts and last answer", async () => {
    setup({ "GET /api/webhooks/ep_1/deliveries": () => json(200, { deliveries: [failed, pending, delivered] }) });
    expect(await screen.findByRole("heading", { level: 1 })).toHaveTextContent("Webhook endpoint https://hooks.example.com/keygate");
    expect(screen.getByTestId("endpoint-state")).toHaveTextContent(/Failing\s*since/);

    const d = await rowOf("key.created");
    expect(d).toHaveTextContent("about alice’s key");
    expect(within(d).getByText("Delivered")).toBeInTheDocument();
    expect(d).toHaveTextContent("2 (1 replay)");
    expect(within(d).getByText("200")).toBeInTheDocument();

    const p = await rowOf("key.revoked");
    expect(within(p).getByText("Pending")).toBeInTheDocument();
    expect(p).toHaveTextContent(/next attempt .*2026/);
    expect(within(p).getByText("next attempt", { exact: false }).querySelector("time")).toHaveAttribute("datetime", "2026-05-01T12:05:01Z");
    expect(p).toHaveTextContent("503 the endpoint answered 503");

    const f = await rowOf("webhook.test");
    expect(within(f).getByText("Failed")).toBeInTheDocument();
    expect(f).toHaveTextContent("timed out after 10 s");
    expect(f).not.toHaveTextContent("next attempt");
    // Newest first, as the server lists them.
    const rows = screen.getAllByRole("row").filter((r) => r.dataset.delivery);
    expect(rows.map((r) => r.dataset.delivery)).toEqual(["evt_c.ep_1", "evt_b.ep_1", "evt_a.ep_1"]);
  });

  it("opens a delivery: every attempt, newest first, and the payload pretty-printed; the URL says which", async () => {
    const { user } = setup({ "GET /api/webhooks/ep_1/deliveries": () => json(200, { deliveries: [pending, delivered] }) });
    const d = await rowOf("key.created");
    const details = within(d).getByRole("button", { name: /^Details of key\.created of / });
    expect(details).toHaveAttribute("aria-expanded", "false");
    await user.click(details);
    expect(screen.getByTestId("where")).toHaveTextContent("/admin/webhooks/ep_1?delivery=evt_a.ep_1");
    const hide = within(d).getByRole("button", { name: /^Hide of key\.created/ });
    expect(hide).toHaveAttribute("aria-expanded", "true");
    const panel = document.getElementById(hide.getAttribute("aria-controls") ?? "") as HTMLElement;
    expect(panel).toHaveTextContent("evt_a");
    const attempts = within(panel).getByRole("table");
    const rows = within(attempts).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(2);
    // The replay, newest, first.
    expect(rows[0]).toHaveTextContent("200");
    expect(rows[0]).toHaveTextContent("1.5 s");
    expect(rows[0]).toHaveTextContent("okyes");
    expect(rows[1]).toHaveTextContent("42 ms");
    expect(rows[1]).toHaveTextContent('{"received": true}');
    expect(rows[1]).toHaveTextContent(/—.*no$/);
    expect(within(panel).getByText(/"name": "deploys"/).textContent).toBe(JSON.stringify(JSON.parse(payload), null, 2));

    await user.click(hide);
    expect(screen.getByTestId("where")).toHaveTextContent(/^\/admin\/webhooks\/ep_1$/);
    expect(panel).not.toBeInTheDocument();
  });

  it("opens the delivery a link names, read on its own when it is not among the newest", async () => {
    setup(
      {
        "GET /api/webhooks/ep_1/deliveries": () => json(200, { deliveries: [pending] }),
        "GET /api/webhooks/ep_1/deliveries/evt_a.ep_1": () => json(200, delivered),
      },
      "/admin/webhooks/ep_1?delivery=evt_a.ep_1",
    );
    expect(await screen.findByRole("heading", { name: "The delivery linked to" })).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: /^Hide of key\.created/ })).toHaveAttribute("aria-expanded", "true");
  });

  it("replays a delivery, then reads the list again", async () => {
    let replayed = false;
    const { api, user } = setup({
      "GET /api/webhooks/ep_1/deliveries": () =>
        json(200, { deliveries: [replayed ? { ...pending, state: "pending", replay_pending: true, replays: 1 } : pending] }),
      "POST /api/webhooks/ep_1/deliveries/evt_b.ep_1/replay": () => {
        replayed = true;
        return json(202, { ...pending, replay_pending: true, replays: 1 });
      },
    });
    const p = await rowOf("key.revoked");
    await user.click(within(p).getByRole("button", { name: /^Replay key\.revoked of / }));
    await waitFor(() => {
      expect(api.writes()).toEqual([{ method: "POST", path: "/api/webhooks/ep_1/deliveries/evt_b.ep_1/replay", body: undefined }]);
    });
    expect(await screen.findByText("Replay of key.revoked (evt_b) queued.")).toBeInTheDocument();
    await waitFor(async () => {
      expect(await rowOf("key.revoked")).toHaveTextContent("(1 replay)");
    });
    expect(await rowOf("key.revoked")).toHaveTextContent(/replay .*2026/);
  });

  it("loads older deliveries with the server's cursor", async () => {
    const { api, user } = setup({
      "GET /api/webhooks/ep_1/deliveries": (_, url) =>
        url.searchParams.get("before") === "evt_b.ep_1"
          ? json(200, { deliveries: [delivered] })
          : json(200, { deliveries: [pending], next_before: "evt_b.ep_1" }),
    });
    await rowOf("key.revoked");
    await user.click(screen.getByRole("button", { name: "Load more" }));
    await rowOf("key.created");
    const asked = api.calls.filter((c) => c.path === "/api/webhooks/ep_1/deliveries");
    expect(asked.length).toBeGreaterThanOrEqual(2);
    // An empty or cursorless page ends the list.
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
  });

  it("says when nothing was sent yet", async () => {
    setup({ "GET /api/webhooks/ep_1/deliveries": () => json(200, { deliveries: [] }) });
    expect(await screen.findByText(/Nothing was sent to this endpoint yet\./)).toBeInTheDocument();
  });

  it("says so when the endpoint does not exist", async () => {
    mockApi({ "GET /api/webhooks/ep_x": () => json(404, { error: "not_found", message: "no webhook endpoint with that id" }) });
    renderWithApi(
      <Routes>
        <RouterRoute path="/admin/webhooks/:id" element={<WebhookPage />} />
      </Routes>,
      "/admin/webhooks/ep_x",
    );
    expect(await screen.findByRole("alert")).toHaveTextContent("no webhook endpoint with that id");
    expect(screen.getByRole("link", { name: "Back to the webhooks" })).toHaveAttribute("href", "/admin/webhooks");
  });
});
