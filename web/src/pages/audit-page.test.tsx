import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import { absoluteSeconds, fromLocalInput } from "../lib/format";
import { type AuditFilter, noAuditFilter } from "../lib/queries/audit";
import type { AuditEvent } from "../lib/schemas";
import { auditEventSchema } from "../lib/schemas";
import { AuditView, type AuditViewProps } from "./audit-page";

const events: AuditEvent[] = [
  auditEventSchema.parse({
    seq: 3,
    at: "2026-06-01T12:00:05Z",
    actor: "alice",
    auth: "oidc",
    action: "update",
    owner: "alice",
    token_id: "k1",
    client: "10.0.0.1",
    name: "deploys",
    changes: [
      { field: "name", from: "ci", to: "deploys" },
      { field: "expires_at", from: null, to: "2026-07-01T00:00:00Z" },
    ],
  }),
  // An older event, from before names were recorded: no name, no changes.
  auditEventSchema.parse({ seq: 2, at: "2026-06-01T11:00:00Z", actor: "admin", auth: "admin-key", action: "create", owner: "bob", token_id: "k2" }),
];

function setup(patch: Partial<AuditViewProps> = {}) {
  const onFilter = vi.fn<(f: AuditFilter) => void>();
  const onExport = vi.fn();
  render(
    <MemoryRouter>
      <AuditView
        filter={noAuditFilter}
        onFilter={onFilter}
        events={events}
        pending={false}
        error={null}
        more={false}
        loadingMore={false}
        onMore={vi.fn()}
        onRetry={vi.fn()}
        onExport={onExport}
        {...patch}
      />
    </MemoryRouter>,
  );
  return { onFilter, onExport, user: userEvent.setup() };
}

describe("the audit log", () => {
  it("links a webhook change to its endpoint, and a replay to its delivery", () => {
    const webhook = (seq: number, action: string, name: string) =>
      auditEventSchema.parse({ seq, at: "2026-06-01T12:00:00Z", actor: "admin", auth: "admin-key", action, owner: "", name });
    setup({ events: [webhook(9, "webhook_create", "ep_1"), webhook(8, "webhook_replay", "evt_a.ep_1")] });
    const [, created, replayed] = screen.getAllByRole("row");
    expect(within(created as HTMLElement).getByRole("link", { name: "webhook endpoint" })).toHaveAttribute("href", "/admin/webhooks/ep_1");
    expect(within(replayed as HTMLElement).getByRole("link", { name: "webhook delivery" })).toHaveAttribute(
      "href",
      "/admin/webhooks/ep_1?delivery=evt_a.ep_1",
    );
    expect(replayed).toHaveTextContent("evt_a.ep_1");
  });

  it("names the key (linked), says what changed, and gives times to the second", () => {
    setup();
    const row = screen.getAllByRole("row")[1] as HTMLElement;
    expect(within(row).getByRole("link", { name: "deploys" })).toHaveAttribute("href", "/admin/keys/k1");
    expect(row).toHaveTextContent("name: ci → deploys");
    expect(row).toHaveTextContent("expires_at: ∅ → 2026-07-01T00:00:00Z");
    expect(within(row).getByText(absoluteSeconds("2026-06-01T12:00:05Z"))).toHaveAttribute("datetime", "2026-06-01T12:00:05Z");
    expect(absoluteSeconds("2026-06-01T12:00:05Z")).toMatch(/00:05/);
    const old = screen.getAllByRole("row")[2] as HTMLElement;
    expect(within(old).getByRole("link", { name: "k2" })).toHaveAttribute("href", "/admin/keys/k2");
  });

  it("filters by action and by a time range typed in the browser's zone", async () => {
    const { onFilter, user } = setup();
    await user.selectOptions(screen.getByLabelText("Action"), "rotate");
    const from = screen.getByLabelText("Since");
    expect(from).toHaveAccessibleDescription(/Times are in your time zone \(.+\)/);
    await user.type(from, "2026-06-01T08:00");
    await user.type(screen.getByLabelText("Until"), "2026-06-02T08:00");
    await user.click(screen.getByRole("button", { name: "Filter" }));
    expect(onFilter).toHaveBeenCalledWith({
      ...noAuditFilter,
      action: "rotate",
      since: fromLocalInput("2026-06-01T08:00"),
      until: fromLocalInput("2026-06-02T08:00"),
    });
  });

  it("refuses a range that ends before it starts", async () => {
    const { onFilter, user } = setup();
    await user.type(screen.getByLabelText("Since"), "2026-06-02T08:00");
    await user.type(screen.getByLabelText("Until"), "2026-06-01T08:00");
    await user.click(screen.getByRole("button", { name: "Filter" }));
    expect(onFilter).not.toHaveBeenCalled();
    expect(screen.getByRole("alert")).toHaveTextContent("“Since” must be before “Until”.");
  });

  it("exports as CSV or JSON", async () => {
    const { onExport, user } = setup();
    await user.click(screen.getByRole("button", { name: "Export CSV" }));
    await user.click(screen.getByRole("button", { name: "Export JSON" }));
    expect(onExport.mock.calls).toEqual([["csv"], ["json"]]);
  });

  it("keeps the events on screen when a refresh fails", () => {
    setup({ stale: { error: new Error("Cannot reach keygate."), updatedAt: Date.now() } });
    expect(screen.getByText(/Could not refresh the audit log:/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "deploys" })).toBeInTheDocument();
  });
});
