import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Delivery, WebhookEndpoint } from "../lib/schemas";
import { json, mockApi, renderWithApi, type Route } from "../test-render";
import { WebhooksPage } from "./webhooks-page";

const at = "2026-05-01T00:00:00Z";
const billing: WebhookEndpoint = {
  id: "ep_billing",
  url: "https://billing.example.com/hooks",
  description: "Billing sync",
  event_types: ["key.*", "credits.low"],
  owners: ["alice"],
  disabled: false,
  created_at: at,
  secret_hint: "whsec_AbCd…",
  signing_secrets: 2,
};
const failing: WebhookEndpoint = {
  ...billing,
  id: "ep_failing",
  url: "https://down.example.com/",
  description: "",
  event_types: [],
  owners: [],
  failing_since: "2026-05-02T10:00:00Z",
  signing_secrets: 1,
};
const gone: WebhookEndpoint = {
  ...failing,
  id: "ep_gone",
  url: "https://gone.example.com/",
  disabled: true,
  disabled_reason: "the endpoint answered 410 Gone",
};
const types = {
  types: [
    { type: "key.created", description: "a key was created" },
    { type: "key.revoked", description: "a key was revoked" },
    { type: "webhook.test", description: "a test event" },
  ],
};
const SECRET = "whsec_c2VjcmV0IHNob3duIG9uY2UgaW4gdGhlIHRlc3Q=";

function setup(routes: Record<string, Route> = {}, initial: WebhookEndpoint[] = [billing, failing, gone]) {
  let endpoints = initial;
  const api = mockApi({
    "GET /api/webhooks": () => json(200, { endpoints }),
    "GET /api/webhooks/types": () => json(200, types),
    ...routes,
  });
  renderWithApi(<WebhooksPage />, "/admin/webhooks");
  return {
    api,
    user: userEvent.setup(),
    setEndpoints: (e: WebhookEndpoint[]) => {
      endpoints = e;
    },
  };
}

const rowOf = async (url: string) => (await screen.findByRole("link", { name: url })).closest("tr") as HTMLElement;

describe("the Webhooks page", () => {
  it("lists each endpoint with its filters, its state and its secret's hint", async () => {
    setup();
    const b = await rowOf(billing.url);
    expect(within(b).getByRole("link", { name: billing.url })).toHaveAttribute("href", "/admin/webhooks/ep_billing");
    expect(b).toHaveTextContent("Billing sync");
    expect(within(b).getByRole("list", { name: `Event types sent to ${billing.url}` })).toHaveTextContent("key.*credits.low");
    expect(within(b).getByRole("list", { name: `Owners whose events go to ${billing.url}` })).toHaveTextContent("alice");
    expect(b).toHaveTextContent("Active");
    expect(b).toHaveTextContent("whsec_AbCd… and 1 older, still signing");

    const f = await rowOf(failing.url);
    expect(f).toHaveTextContent("all events");
    expect(f).toHaveTextContent("all owners");
    expect(f).toHaveTextContent(/Failing\s*since .*2026/);
    expect(within(f).getByText("no description")).toBeInTheDocument();

    const g = await rowOf(gone.url);
    expect(g).toHaveTextContent("Disabled by keygate: the endpoint answered 410 Gone");
    expect(within(g).getByRole("button", { name: `Enable ${gone.url}` })).toBeInTheDocument();
    expect(within(g).getByRole("button", { name: `Test ${gone.url}` })).toBeDisabled();
  });

  it("says when there are none", async () => {
    setup({}, []);
    expect(await screen.findByText("No endpoints yet. Add one with “New endpoint”.")).toBeInTheDocument();
  });

  it("creates an endpoint and shows its secret once", async () => {
    const made: WebhookEndpoint = { ...billing, id: "ep_new", url: "https://new.example.com/hook", description: "", event_types: ["key.revoked"], owners: ["alice", "bob"], signing_secrets: 1 };
    const { api, user, setEndpoints } = setup({
      "POST /api/webhooks": () => {
        setEndpoints([billing, made]);
        return json(201, { endpoint: made, secret: SECRET });
      },
    });
    await user.click(await screen.findByRole("button", { name: "New endpoint" }));
    const dialog = screen.getByRole("dialog", { name: "New webhook endpoint" });
    await user.type(within(dialog).getByLabelText("URL"), made.url);
    await user.click(within(dialog).getByLabelText(/Only the types ticked below/));
    await user.click(await within(dialog).findByLabelText("key.revoked"));
    await user.type(within(dialog).getByLabelText("Owners"), "alice\nbob, alice");
    await user.click(within(dialog).getByRole("button", { name: "Create endpoint" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([
        {
          method: "POST",
          path: "/api/webhooks",
          body: { url: made.url, description: "", event_types: ["key.revoked"], owners: ["alice", "bob"] },
        },
      ]);
    });
    const shown = await screen.findByRole("dialog", { name: "The endpoint’s signing secret" });
    expect(within(shown).getByTestId("new-secret")).toHaveValue(SECRET);
    await user.click(within(shown).getByRole("button", { name: "I have saved the secret" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(await screen.findByRole("link", { name: made.url })).toBeInTheDocument();
  });

  it("edits an endpoint, sending only what changed", async () => {
    const { api, user } = setup({
      "PATCH /api/webhooks/ep_billing": (body) => json(200, { ...billing, ...(body as object) }),
    });
    await user.click(within(await rowOf(billing.url)).getByRole("button", { name: `Edit ${billing.url}` }));
    const dialog = screen.getByRole("dialog", { name: "Edit webhook endpoint" });
    expect(within(dialog).getByLabelText("URL")).toHaveValue(billing.url);
    expect(within(dialog).getByLabelText(/Only the types ticked below/)).toBeChecked();
    expect(await within(dialog).findByLabelText(/Every key event/)).toBeChecked();
    expect(within(dialog).getByLabelText("credits.low")).toBeChecked();
    await user.clear(within(dialog).getByLabelText("Owners"));
    await user.click(within(dialog).getByRole("button", { name: "Save endpoint" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/webhooks/ep_billing", body: { owners: [] } }]);
    });
    await waitFor(() => {
      expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    });
    expect(await screen.findByText(`${billing.url} saved.`)).toBeInTheDocument();
  });

  it("sends a test event, and links to the deliveries", async () => {
    const delivery: Delivery = {
      id: "evt_1.ep_billing",
      endpoint_id: "ep_billing",
      event_id: "evt_1",
      event_type: "webhook.test",
      event_at: at,
      created_ms: Date.parse(at),
      state: "pending",
      next_attempt_at_ms: Date.parse(at),
      attempts: [],
      tries: 0,
      replays: 0,
      replay_pending: false,
      payload: "{}",
    };
    const { api, user } = setup({ "POST /api/webhooks/ep_billing/test": () => json(202, delivery) });
    await user.click(within(await rowOf(billing.url)).getByRole("button", { name: `Test ${billing.url}` }));
    const status = await screen.findByText(
      (_, el) => el?.tagName === "P" && el.textContent === `Test event sent to ${billing.url}. See its deliveries.`,
    );
    expect(within(status).getByRole("link", { name: "See its deliveries" })).toHaveAttribute("href", "/admin/webhooks/ep_billing");
    expect(api.writes()).toEqual([{ method: "POST", path: "/api/webhooks/ep_billing/test", body: undefined }]);
  });

  it("disables and enables an endpoint", async () => {
    const { api, user, setEndpoints } = setup({
      "PATCH /api/webhooks/ep_gone": () => {
        const enabled = { ...gone, disabled: false, disabled_reason: null, failing_since: null };
        setEndpoints([billing, failing, enabled]);
        return json(200, enabled);
      },
    });
    await user.click(within(await rowOf(gone.url)).getByRole("button", { name: `Enable ${gone.url}` }));
    await screen.findByText(`${gone.url} is enabled again.`);
    expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/webhooks/ep_gone", body: { disabled: false } }]);
    await waitFor(async () => {
      expect(within(await rowOf(gone.url)).getByRole("button", { name: `Disable ${gone.url}` })).toBeInTheDocument();
    });
  });

  it("rotates the secret with the overlap chosen, and shows the new one once", async () => {
    const { api, user } = setup({
      "POST /api/webhooks/ep_failing/rotate-secret": () => json(200, { endpoint: { ...failing, signing_secrets: 2 }, secret: SECRET }),
    });
    await user.click(within(await rowOf(failing.url)).getByRole("button", { name: `Rotate secret of ${failing.url}` }));
    const dialog = screen.getByRole("dialog", { name: "Rotate the signing secret" });
    expect(within(dialog).getByLabelText("1 day (the default)")).toBeChecked();
    await user.click(within(dialog).getByLabelText("7 days (the longest)"));
    await user.click(within(dialog).getByRole("button", { name: "Rotate secret" }));
    const shown = await screen.findByRole("dialog", { name: "The new signing secret" });
    expect(within(shown).getByTestId("new-secret")).toHaveValue(SECRET);
    expect(within(shown).getByTestId("old-secret-until")).toHaveTextContent(/keeps signing too until/);
    expect(api.writes()).toEqual([{ method: "POST", path: "/api/webhooks/ep_failing/rotate-secret", body: { overlap_secs: 604_800 } }]);
  });

  it("deletes an endpoint after asking", async () => {
    const { api, user, setEndpoints } = setup({
      "DELETE /api/webhooks/ep_failing": () => {
        setEndpoints([billing, gone]);
        return new Response(null, { status: 204 });
      },
    });
    await user.click(within(await rowOf(failing.url)).getByRole("button", { name: `Delete ${failing.url}` }));
    const dialog = screen.getByRole("dialog", { name: "Delete this webhook endpoint?" });
    await user.click(within(dialog).getByRole("button", { name: "Delete endpoint" }));
    await waitFor(() => {
      expect(screen.queryByRole("link", { name: failing.url })).not.toBeInTheDocument();
    });
    expect(api.writes()).toEqual([{ method: "DELETE", path: "/api/webhooks/ep_failing", body: undefined }]);
  });
});
