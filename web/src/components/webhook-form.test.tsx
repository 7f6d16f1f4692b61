import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import type { EventType } from "../lib/schemas";
import { emptyWebhookForm, type WebhookFormValues } from "../lib/webhooks";
import { WebhookForm } from "./webhook-form";

const types: EventType[] = [
  { type: "key.created", description: "a key was created" },
  { type: "key.revoked", description: "a key was revoked" },
  { type: "ratelimit.exceeded", description: "a key's rate limit refused a request" },
  { type: "webhook.test", description: "a test event" },
];

function setup(props: Partial<Parameters<typeof WebhookForm>[0]> = {}) {
  const onSubmit = vi.fn<(v: WebhookFormValues) => void>();
  const utils = render(
    <WebhookForm
      mode="create"
      initial={emptyWebhookForm}
      types={types}
      submitting={false}
      serverError={null}
      onSubmit={onSubmit}
      onCancel={vi.fn()}
      {...props}
    />,
  );
  return { onSubmit, user: userEvent.setup(), ...utils };
}

describe("the webhook endpoint form", () => {
  it("shows what is wrong next to each field, and sends nothing until it is right", async () => {
    const { onSubmit, user } = setup();
    const url = screen.getByLabelText("URL");
    await user.type(url, "ftp://hooks.example.com/");
    await user.tab();
    expect(url).toHaveAttribute("aria-invalid", "true");
    expect(url).toHaveAccessibleDescription(/Use an http:\/\/ or https:\/\/ URL\./);
    await user.click(screen.getByLabelText(/Only the types ticked below/));
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByRole("alert")).toHaveTextContent("2 fields need attention.");
    expect(url).toHaveFocus();
    const events = screen.getByRole("group", { name: "Events" });
    expect(events).toHaveAccessibleDescription(/Tick at least one event type, or choose every event\./);

    await user.clear(url);
    await user.type(url, "https://hooks.example.com/keygate");
    await user.click(screen.getByLabelText("ratelimit.exceeded"));
    await user.type(screen.getByLabelText("Owners"), "alice, bob");
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));
    expect(onSubmit).toHaveBeenCalledWith({
      url: "https://hooks.example.com/keygate",
      description: "",
      allEvents: false,
      eventTypes: ["ratelimit.exceeded"],
      owners: "alice, bob",
    });
  });

  it("groups the types by family; a family takes its types, and those added later", async () => {
    const { onSubmit, user } = setup();
    await user.type(screen.getByLabelText("URL"), "https://h.example.com/");
    await user.click(screen.getByLabelText(/Only the types ticked below/));
    const key = screen.getByRole("group", { name: "key events" });
    await user.click(within(key).getByLabelText("key.created"));
    const family = within(key).getByLabelText(/Every key event/);
    expect(family).toHaveAccessibleDescription("Also the types added to this family later.");
    await user.click(family);
    expect(within(key).getByLabelText("key.revoked")).toBeChecked();
    expect(within(key).getByLabelText("key.revoked")).toBeDisabled();
    expect(within(key).getByLabelText("key.created")).toHaveAccessibleDescription("a key was created");
    // A family of one type is the type itself.
    expect(within(screen.getByRole("group", { name: "webhook events" })).queryByLabelText(/Every webhook event/)).toBeNull();
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));
    expect(onSubmit.mock.calls[0]?.[0].eventTypes).toEqual(["key.*"]);
  });

  it("shows the server's refusal next to the field it names, and takes the keyboard there", async () => {
    const refusal = new ApiError(
      422,
      "invalid",
      "points at 169.254.169.254, a loopback, private or link-local address (set events.allow_private_addresses to allow it)",
      "url",
    );
    const { rerender, user } = setup();
    await user.type(screen.getByLabelText("URL"), "http://169.254.169.254/");
    rerender(
      <WebhookForm
        mode="create"
        initial={emptyWebhookForm}
        types={types}
        submitting={false}
        serverError={refusal}
        onSubmit={vi.fn()}
        onCancel={vi.fn()}
      />,
    );
    const url = screen.getByLabelText("URL");
    expect(url).toHaveValue("http://169.254.169.254/");
    expect(url).toHaveAttribute("aria-invalid", "true");
    expect(url).toHaveAccessibleDescription(/points at 169\.254\.169\.254, a loopback, private or link-local address/);
    await waitFor(() => {
      expect(url).toHaveFocus();
    });
    expect(screen.getByRole("alert")).toHaveTextContent("keygate refused the endpoint: see below.");
  });

  it("shows a refusal about no field at the top", () => {
    setup({ serverError: new ApiError(409, "too_many_endpoints", "there are 50 webhook endpoints already") });
    expect(screen.getByRole("alert")).toHaveTextContent("there are 50 webhook endpoints already");
    expect(screen.getByLabelText("URL")).toHaveAttribute("aria-invalid", "false");
  });

  it("keeps a stored filter keygate no longer lists, to be unticked", async () => {
    const { onSubmit, user } = setup({
      mode: "edit",
      initial: { ...emptyWebhookForm, url: "https://h/", allEvents: false, eventTypes: ["key.created", "gone.away"] },
    });
    expect(screen.getByLabelText("key.created")).toBeChecked();
    const gone = within(screen.getByRole("group", { name: "Not listed by keygate" })).getByLabelText("gone.away");
    await user.click(gone);
    await user.click(screen.getByRole("button", { name: "Save endpoint" }));
    expect(onSubmit.mock.calls[0]?.[0].eventTypes).toEqual(["key.created"]);
  });

  it("says when the types cannot be read", async () => {
    const { user } = setup({ types: undefined, typesError: new ApiError(503, "unavailable", "the store is down") });
    await user.click(screen.getByLabelText(/Only the types ticked below/));
    expect(screen.getByText("Could not load the event types: the store is down")).toBeInTheDocument();
  });
});
