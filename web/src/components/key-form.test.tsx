import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { createBody, emptyForm, formOf, patchBody, type KeyFormValues } from "../lib/key-form-model";
import { limitedToken } from "../test-fixtures";
import { KeyForm } from "./key-form";

const NOW = Date.parse("2026-06-01T12:00:00Z");

function setup(serverError: ApiError | null = null) {
  const onSubmit = vi.fn();
  render(
    <KeyForm
      mode="create"
      initial={emptyForm()}
      submitting={false}
      serverError={serverError}
      onSubmit={onSubmit}
      onCancel={vi.fn()}
      now={NOW}
    />,
  );
  return { onSubmit, user: userEvent.setup() };
}

describe("the create form", () => {
  it("sends nothing and marks the fields while they are invalid", async () => {
    const { onSubmit, user } = setup();
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).not.toHaveBeenCalled();
    const name = screen.getByLabelText("Name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveFocus();
    expect(name).toHaveAccessibleDescription(/Give the key a name/);
    expect(screen.getByText(/One field needs attention/)).toBeInTheDocument();
  });

  it("shows a rule's problem when the field is left, and clears it when fixed", async () => {
    const { user } = setup();
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    const hosts = screen.getByLabelText("Hosts");
    await user.type(hosts, "https://api.example.com/v1");
    await user.tab();
    expect(hosts).toHaveAccessibleDescription(/without scheme, port or path/);
    await user.clear(hosts);
    await user.type(hosts, "api.example.com");
    expect(hosts).toHaveAttribute("aria-invalid", "false");
  });

  it("offers methods to tick, not to type, and sends them in the usual order", async () => {
    const { user, onSubmit } = setup();
    await user.type(screen.getByLabelText("Name"), "deploys");
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    const methods = screen.getByRole("group", { name: "Methods" });
    expect(methods).toHaveAccessibleDescription("None ticked: any method.");
    await user.click(screen.getByRole("checkbox", { name: "POST" }));
    await user.click(screen.getByRole("checkbox", { name: "GET" }));
    await user.click(screen.getByText("More methods"));
    await user.click(screen.getByRole("checkbox", { name: "PURGE" }));
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const v = onSubmit.mock.calls[0]?.[0] as KeyFormValues;
    expect(createBody(v, NOW).rules).toEqual([{ hosts: [], paths: [], methods: ["GET", "POST", "PURGE"] }]);
  });

  it("takes the keyboard to the fields a button adds, and back to the button when they go", async () => {
    const { user } = setup();
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    expect(screen.getByLabelText("Hosts")).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    expect(screen.getAllByLabelText("Hosts")[1]).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Remove rule 2" }));
    expect(screen.getByRole("button", { name: "Add a rule" })).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Add metadata" }));
    expect(screen.getByLabelText("Name 1")).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Remove metadata 1" }));
    expect(screen.getByRole("button", { name: "Add metadata" })).toHaveFocus();
  });

  it("refuses a lone dot as a host", async () => {
    const { user } = setup();
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    const hosts = screen.getByLabelText("Hosts");
    await user.type(hosts, ".");
    await user.tab();
    expect(hosts).toHaveAttribute("aria-invalid", "true");
    expect(hosts).toHaveAccessibleDescription(/api.example.com or \*.example.com/);
  });

  it("asks for a date in the future when the expiry is custom", async () => {
    const { user, onSubmit } = setup();
    await user.type(screen.getByLabelText("Name"), "deploys");
    await user.selectOptions(screen.getByLabelText("Expires"), "custom");
    const date = screen.getByLabelText(/^Expiry date, in your time zone \(.+\)$/);
    expect(date).toHaveAccessibleDescription(/00:00 that day/);
    await user.type(date, "2026-05-01");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(date).toHaveAccessibleDescription(/future/);
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("submits valid values", async () => {
    const { user, onSubmit } = setup();
    await user.type(screen.getByLabelText("Name"), "deploys");
    await user.selectOptions(screen.getByLabelText("Expires"), "90d");
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    await user.type(screen.getByLabelText("Paths"), "/v1/*");
    await user.click(screen.getByRole("button", { name: "Add metadata" }));
    await user.type(screen.getByLabelText("Name 1"), "team");
    await user.type(screen.getByLabelText("Value 1"), "core");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({
        name: "deploys",
        expiry: "90d",
        rules: [{ hosts: "", paths: "/v1/*", methods: [] }],
        metadata: [{ key: "team", value: "core" }],
      }),
    );
  });

  it("shows the server's refusal next to the field it names", () => {
    setup(new ApiError(422, "invalid", "name: no control characters", "name"));
    expect(screen.getByRole("alert")).toHaveTextContent("name: no control characters");
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
  });
});

function setupLimits({ mayRaiseLimits = true, serverError = null }: { mayRaiseLimits?: boolean; serverError?: ApiError | null } = {}) {
  const onSubmit = vi.fn<(v: KeyFormValues) => void>();
  render(
    <KeyForm
      mode="create"
      initial={emptyForm()}
      submitting={false}
      serverError={serverError}
      onSubmit={onSubmit}
      onCancel={vi.fn()}
      mayRaiseLimits={mayRaiseLimits}
      now={NOW}
    />,
  );
  return { onSubmit, user: userEvent.setup() };
}

/** A valid key with one rate limit, "burst": 3 per minute. */
async function fillValid(user: ReturnType<typeof userEvent.setup>) {
  await user.type(screen.getByLabelText("Name"), "ci");
  await user.click(screen.getByLabelText(/Set limits for this key/));
  await user.click(screen.getByRole("button", { name: "Add a rate limit" }));
  await user.type(screen.getByLabelText("Name, rate limit 1"), "burst");
  await user.type(screen.getByLabelText("Requests, rate limit 1"), "3");
}

describe("the limits in the create form", () => {
  it("leave the limits to the server's defaults unless asked", async () => {
    const { user, onSubmit } = setupLimits();
    expect(screen.getByLabelText(/The defaults for new keys/)).toBeChecked();
    expect(screen.queryByRole("button", { name: "Add a rate limit" })).not.toBeInTheDocument();
    await user.type(screen.getByLabelText("Name"), "ci");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const values = onSubmit.mock.calls[0]?.[0];
    expect(values && "limits" in createBody(values, NOW)).toBe(false);
  });

  it("build the contract's body from rate limits, credits and a refill", async () => {
    const { user, onSubmit } = setupLimits();
    await fillValid(user);
    await user.click(screen.getByRole("button", { name: "Add a rate limit" }));
    await user.type(screen.getByLabelText("Name, rate limit 2"), "daily");
    await user.type(screen.getByLabelText("Requests, rate limit 2"), "10 000");
    await user.selectOptions(screen.getByLabelText("Window unit, rate limit 2"), "d");
    await user.click(screen.getByLabelText(/Count credits/));
    await user.type(screen.getByLabelText("Credits left"), "5");
    await user.selectOptions(screen.getByLabelText("Refill"), "custom");
    await user.type(screen.getByLabelText("Refill to"), "100");
    await user.type(screen.getByLabelText(/^Every/), "12");
    await user.selectOptions(screen.getByLabelText("Refill interval unit"), "h");
    expect(screen.getByText("Every 12 hours the balance is set to 100 (not added to).")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).toHaveBeenCalledTimes(1);
    const values = onSubmit.mock.calls[0]?.[0];
    expect(values && createBody(values, NOW).limits).toEqual({
      rate_limits: [
        { name: "burst", limit: 3, window: "1m" },
        { name: "daily", limit: 10_000, window: "1d" },
      ],
      credits: { remaining: 5, refill: { amount: 100, interval: "12h" } },
    });
  });

  it.each([
    ["Requests, rate limit 1", "0", "At least 1."],
    ["Requests, rate limit 1", "-5", "At least 1: no negative numbers."],
    ["Requests, rate limit 1", "2.5", "A whole number, without decimals."],
    ["Requests, rate limit 1", "lots", "Digits only, e.g. 100."],
    ["Per window, rate limit 1", "0", "At least 1."],
    ["Name, rate limit 1", "per minute", "Letters, digits, “_”, “.” and “-” only."],
  ])("refuse %s “%s”: %s", async (label, typed, message) => {
    const { user, onSubmit } = setupLimits();
    await fillValid(user);
    const field = screen.getByLabelText(label);
    await user.clear(field);
    await user.type(field, typed);
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field).toHaveAccessibleDescription(message);
  });

  it("refuse a window over 31 days, a repeated name and a negative balance", async () => {
    const { user, onSubmit } = setupLimits();
    await fillValid(user);
    const every = screen.getByLabelText("Per window, rate limit 1");
    await user.clear(every);
    await user.type(every, "32");
    await user.selectOptions(screen.getByLabelText("Window unit, rate limit 1"), "d");
    expect(every).toHaveAccessibleDescription("At most 31 days.");
    await user.click(screen.getByRole("button", { name: "Add a rate limit" }));
    await user.type(screen.getByLabelText("Name, rate limit 2"), "burst");
    await user.type(screen.getByLabelText("Requests, rate limit 2"), "1");
    await user.click(screen.getByLabelText(/Count credits/));
    await user.type(screen.getByLabelText("Credits left"), "-1");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText("Name, rate limit 2")).toHaveAccessibleDescription("“burst” is already used: names must differ.");
    expect(screen.getByLabelText("Credits left")).toHaveAccessibleDescription("At least 0: no negative numbers.");
    expect(screen.getByText("3 fields need attention.")).toBeInTheDocument();
    // Fixed, and removed: then it goes.
    await user.click(screen.getByRole("button", { name: "Remove rate limit 2" }));
    await user.clear(every);
    await user.type(every, "31");
    await user.click(screen.getByLabelText(/Count credits/));
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).toHaveBeenCalledTimes(1);
  });

  it("say when limits can only be tightened, and show the server's refusal there", () => {
    setupLimits({
      mayRaiseLimits: false,
      serverError: new ApiError(403, "limits_locked", "rate limit “burst”: 10 is more than the 3 you have"),
    });
    const section = screen.getByRole("group", { name: "Limits" });
    expect(section).toHaveAccessibleDescription(/You can only tighten limits; ask an administrator to raise them/);
    expect(section).toHaveTextContent("rate limit “burst”: 10 is more than the 3 you have");
    const alerts = screen.getAllByRole("alert").map((a) => a.textContent);
    expect(alerts).toContain("keygate refused the limits: see “Limits” below.");
  });

  it("show the server's 422 about the limits in the Limits section", () => {
    setupLimits({ serverError: new ApiError(422, "invalid", "limits: window 40d is longer than 31d", "limits") });
    expect(screen.getByRole("group", { name: "Limits" })).toHaveTextContent("limits: window 40d is longer than 31d");
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "false");
  });

  it("say nothing of tightening to those who may raise limits", () => {
    setupLimits();
    expect(screen.queryByText(/only tighten/)).not.toBeInTheDocument();
  });
});

describe("the limits in the edit form", () => {
  function setupEdit() {
    const onSubmit = vi.fn<(v: KeyFormValues) => void>();
    render(
      <KeyForm
        mode="edit"
        initial={formOf(limitedToken)}
        submitting={false}
        serverError={null}
        onSubmit={onSubmit}
        onCancel={vi.fn()}
        now={NOW}
      />,
    );
    const body = () => {
      const v = onSubmit.mock.calls.at(-1)?.[0];
      return v ? patchBody(v, limitedToken.limits, NOW) : undefined;
    };
    return { onSubmit, body, user: userEvent.setup() };
  }

  it("show the key's limits and send none of them when untouched", async () => {
    const { user, body } = setupEdit();
    expect(screen.getByLabelText("Name, rate limit 1")).toHaveValue("per-minute");
    expect(screen.getByLabelText("Requests, rate limit 2")).toHaveValue("5000");
    expect(screen.getByLabelText("Window unit, rate limit 2")).toHaveValue("h");
    expect(screen.getByLabelText("Credits left")).toHaveValue("9950");
    expect(screen.getByLabelText("Refill")).toHaveValue("monthly");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(body()).not.toHaveProperty("limits");
  });

  it("send the whole list when a rate limit changes, and keep the live balance", async () => {
    const { user, body } = setupEdit();
    await user.click(screen.getByRole("button", { name: "Remove rate limit 2" }));
    await user.selectOptions(screen.getByLabelText("Refill"), "none");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(body()?.limits).toEqual({
      rate_limits: [{ name: "per-minute", limit: 100, window: "1m" }],
      credits: { refill: null },
    });
  });

  it("remove the quota", async () => {
    const { user, body } = setupEdit();
    await user.click(screen.getByLabelText(/Count credits/));
    const balance = screen.queryByLabelText("Credits left");
    expect(balance).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(body()?.limits).toEqual({ credits: null });
  });
});
