import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import { absolute } from "../lib/format";
import { DEFAULT_STATE, type ListState } from "../lib/key-list-model";
import type { Token } from "../lib/schemas";
import { limitedToken, token } from "../test-fixtures";
import { KeyTable, type KeyTableProps } from "./key-table";

type Props = Omit<KeyTableProps, "state" | "onState" | "onEdit" | "onRotate" | "onRevoke"> &
  Partial<Pick<KeyTableProps, "onEdit" | "onRotate" | "onRevoke">> & { initial?: Partial<ListState> };

/** The table with its list state held here, as the page holds it in the URL. */
function Table({ initial, ...p }: Props) {
  const [state, setState] = useState<ListState>({ ...DEFAULT_STATE, ...initial });
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  return (
    <MemoryRouter>
      <KeyTable
        onEdit={vi.fn()}
        onRotate={vi.fn()}
        onRevoke={vi.fn()}
        state={state}
        onState={setState}
        selected={selected}
        onSelect={(ids, on) => {
          const next = new Set(selected);
          for (const id of ids) {
            if (on) next.add(id);
            else next.delete(id);
          }
          setSelected(next);
        }}
        {...p}
      />
      <output data-testid="state">{JSON.stringify(state)}</output>
    </MemoryRouter>
  );
}

const NOW = Date.parse("2026-06-01T12:00:00Z");
const base: Token = { ...token, id: "a", name: "a" };
const tokens: Token[] = [
  { ...base, id: "1", name: "old", created_at: "2026-01-01T00:00:00Z", expires_at: "2026-06-03T00:00:00Z" },
  { ...base, id: "2", name: "same second, first", created_at: "2026-05-01T00:00:00Z", status: "disabled" },
  { ...base, id: "3", name: "same second, second", created_at: "2026-05-01T00:00:00Z", expires_at: "2027-01-01T00:00:00Z" },
];

function names() {
  return screen.getAllByRole("row").slice(1).map((r) => r.querySelector(".key-name")?.textContent);
}

describe("the key table", () => {
  it("lists newest first, keeping the server's order for keys made in the same second", () => {
    render(<Table tokens={tokens} now={NOW} />);
    expect(names()).toEqual(["same second, second", "same second, first", "old"]);
    expect(screen.getByText("3 keys")).toBeInTheDocument();
  });

  it("sorts by expiry with never last, flags a close expiry, and filters", async () => {
    const user = userEvent.setup();
    render(<Table tokens={tokens} now={NOW} />);
    await user.selectOptions(screen.getByLabelText("Sort by"), "expires_at:asc");
    expect(names()).toEqual(["old", "same second, second", "same second, first"]);
    expect(within(screen.getAllByRole("row")[1] as HTMLElement).getByText(/⚠ in 2 days/)).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "disabled");
    expect(names()).toEqual(["same second, first"]);
    expect(screen.getByText("1 of 3 keys")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "all");
    await user.type(screen.getByLabelText("Filter"), "OLD");
    expect(names()).toEqual(["old"]);
  });

  it("names the key on every row's menu of actions", async () => {
    const user = userEvent.setup();
    const onRevoke = vi.fn();
    render(<Table tokens={tokens} now={NOW} onRevoke={onRevoke} />);
    const button = screen.getByRole("button", { name: "Actions for old" });
    expect(button).toHaveAttribute("aria-haspopup", "menu");
    await user.click(button);
    const menu = screen.getByRole("menu", { name: "Actions for old" });
    expect(within(menu).getAllByRole("menuitem").map((m) => m.textContent)).toEqual(["Edit", "Rotate", "Revoke"]);
    await user.click(within(menu).getByRole("menuitem", { name: "Revoke" }));
    expect(onRevoke).toHaveBeenCalledWith(tokens[0]);
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
    // Back on the button, where the dialog the action opens will return focus.
    expect(button).toHaveFocus();
  });

  it("offers Disable or Enable when one key can be switched", async () => {
    const user = userEvent.setup();
    const onSetDisabled = vi.fn();
    render(<Table tokens={tokens} now={NOW} onSetDisabled={onSetDisabled} />);
    await user.click(screen.getByRole("button", { name: "Actions for old" }));
    await user.click(screen.getByRole("menuitem", { name: "Disable" }));
    expect(onSetDisabled).toHaveBeenLastCalledWith(tokens[0], true);
    const disabled = { ...base, id: "d", name: "off", disabled: true, status: "disabled" as const };
    render(<Table tokens={[disabled]} now={NOW} onSetDisabled={onSetDisabled} />);
    await user.click(screen.getByRole("button", { name: "Actions for off" }));
    await user.click(screen.getByRole("menuitem", { name: "Enable" }));
    expect(onSetDisabled).toHaveBeenLastCalledWith(disabled, false);
  });

  it("keeps every cell to short lines: names, rules and owners end in … with the whole in a tooltip", () => {
    const long: Token = {
      ...base,
      id: "long",
      name: "checkout-reconciliation-nightly-batch-exporter",
      owner: "payments-platform@finance.example.com",
      rules: [
        { hosts: ["payments-internal.api.example.com"], paths: ["/v2/*"], methods: ["GET"] },
        { hosts: [], paths: ["/health"], methods: [] },
        { hosts: ["b.example.com"], paths: [], methods: [] },
      ],
      metadata: { team: "payments", env: "prod", ticket: "FIN-1", extra: "x" },
    };
    render(<Table tokens={[long]} now={NOW} keyHref={(t) => `/keys/${t.id}`} owner={(t) => t.owner} />);
    const row = document.querySelector('tr[data-key-id="long"]') as HTMLElement;
    expect(within(row).getByRole("link", { name: long.name })).toHaveAttribute("title", long.name);
    expect(row.querySelector(".key-sub")).toHaveAttribute("title", "team=payments\nenv=prod\nticket=FIN-1\nextra=x");
    expect(row.querySelector(".key-sub")).toHaveTextContent("team=payments");
    expect(row.querySelector(".key-sub")).toHaveTextContent("+1");
    const rules = row.querySelector('td[data-label="Rules"]') as HTMLElement;
    expect([...rules.querySelectorAll(".cell-line")].map((l) => l.textContent)).toEqual([
      "GET payments-internal.api.example.com /v2/*",
      "+2 rules",
    ]);
    expect(rules).toHaveAttribute("title", "GET payments-internal.api.example.com /v2/*; any host /health; b.example.com");
    expect(screen.getByRole("columnheader", { name: "Owner" })).toBeInTheDocument();
    expect(row.querySelector('td[data-label="Owner"]')).toHaveAttribute("title", long.owner);
  });
});

describe("limits in the key table", () => {
  const cell = (name: string) => {
    const row = screen.getByText(name, { selector: ".key-name" }).closest("tr");
    const limits = row?.querySelector('td[data-label="Limits"]');
    if (!(limits instanceof HTMLElement)) throw new Error("no Limits cell");
    return limits;
  };

  it("shows rate limits compactly, the credits left and the refill; unlimited keys muted", () => {
    const empty = { ...limitedToken, id: "k3", name: "spent", limits: { rate_limits: [], credits: { remaining: 0, refill: null } } };
    render(<Table tokens={[token, limitedToken, empty]} now={NOW} />);
    expect(screen.getByRole("columnheader", { name: "Limits" })).toBeInTheDocument();
    const limited = cell("limited");
    expect(limited.querySelector(".rate-limits")).toHaveTextContent("100/1m · 5 000/1h");
    expect(limited.querySelector(".credits")).toHaveTextContent("9 950 credits left");
    expect(limited.querySelector(".refill")).toHaveTextContent("refills 10 000 monthly");
    const unlimited = within(cell("first")).getByText("unlimited");
    expect(unlimited).toHaveClass("muted");
    const spent = within(cell("spent")).getByText("⚠ no credits left");
    expect(spent).toHaveClass("warn");
    expect(within(cell("spent")).queryByText(/refills/)).not.toBeInTheDocument();
  });
});

describe("a long key list", () => {
  const DAY = 86_400_000;
  const many = Array.from({ length: 120 }, (_, i): Token => ({
    ...token,
    id: `k${i}`,
    name: `key ${String(i).padStart(3, "0")}`,
    created_at: new Date(NOW - (200 - i) * DAY).toISOString(),
    last_used_at: i < 100 ? new Date(NOW - i * 3_600_000).toISOString() : null,
    metadata: i === 7 ? { team: "payments" } : {},
  }));
  const state = () => JSON.parse(screen.getByTestId("state").textContent) as ListState;

  it("renders one page of 50 rows and pages through the rest", async () => {
    const user = userEvent.setup();
    render(<Table tokens={many} now={NOW} />);
    expect(screen.getAllByRole("row")).toHaveLength(51);
    expect(screen.getByText("120 keys, 1–50 shown")).toBeInTheDocument();
    const pages = screen.getByRole("navigation", { name: "Pages of keys" });
    expect(within(pages).getByRole("button", { name: "Previous" })).toBeDisabled();
    await user.click(within(pages).getByRole("button", { name: "Next" }));
    expect(state().page).toBe(2);
    expect(names()[0]).toBe("key 069");
    await user.selectOptions(within(pages).getByLabelText(/Page/), "3");
    expect(screen.getAllByRole("row")).toHaveLength(21);
    expect(within(pages).getByRole("button", { name: "Next" })).toBeDisabled();
  });

  it("finds a key by a metadata value, back on page 1, and shows its metadata", async () => {
    const user = userEvent.setup();
    render(<Table tokens={many} now={NOW} initial={{ page: 2 }} />);
    await user.type(screen.getByLabelText("Filter"), "payments");
    expect(names()).toEqual(["key 007"]);
    expect(state()).toMatchObject({ q: "payments", page: 1 });
    expect(screen.getByText("team=payments")).toBeInTheDocument();
    expect(screen.getByText("1 of 120 keys")).toBeInTheDocument();
    expect(screen.queryByRole("navigation", { name: "Pages of keys" })).not.toBeInTheDocument();
  });

  it("filters keys unused for N days and badges them", async () => {
    const user = userEvent.setup();
    render(<Table tokens={many} now={NOW} />);
    // Never used, made 81 to 100 days ago.
    await user.selectOptions(screen.getByLabelText("Unused for"), "30");
    expect(state().unused).toBe(30);
    expect(names()).toHaveLength(20);
    const row = screen.getByText("key 119", { selector: ".key-name" }).closest("tr") as HTMLElement;
    expect(within(row).getByText("unused 81 d")).toHaveClass("badge-unused");
    await user.selectOptions(screen.getByLabelText("Unused for"), "");
    expect(screen.getAllByText(/^unused \d+ d$/)).toHaveLength(20);
  });

  it("offers a way back when nothing matches", async () => {
    const user = userEvent.setup();
    render(<Table tokens={many} now={NOW} initial={{ q: "nothing like it", unused: 7 }} />);
    expect(screen.getByText("No key matches.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Show all keys" }));
    expect(screen.getByLabelText("Filter")).toHaveValue("");
    expect(names()).toHaveLength(50);
  });

  it("shows the day under each relative time, the full date and time in its tooltip", () => {
    render(<Table tokens={[{ ...token, last_used_at: "2026-05-31T12:00:00Z" }]} now={NOW} />);
    const row = screen.getAllByRole("row")[1] as HTMLElement;
    const used = row.querySelector('td[data-label="Last used"]') as HTMLElement;
    expect(used).toHaveTextContent("yesterday");
    const day = used.querySelector("time.date-abs");
    expect(day?.textContent).toMatch(/2026/);
    expect(day).toHaveAttribute("dateTime", "2026-05-31T12:00:00Z");
    // In the browser's locale and zone, the zone written out (format.ts).
    expect(day).toHaveAttribute("title", absolute("2026-05-31T12:00:00Z"));
  });
});

describe("selection in the key table", () => {
  it("selects rows one by one or all shown, and offers the bulk actions", async () => {
    const user = userEvent.setup();
    const onBulk = vi.fn();
    render(<Table tokens={tokens} now={NOW} onBulk={onBulk} />);
    expect(screen.queryByRole("group", { name: "Selected keys" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("checkbox", { name: "Select old" }));
    const bar = screen.getByRole("group", { name: "Selected keys" });
    expect(bar).toHaveTextContent("1 selected");
    const all = screen.getByRole("checkbox", { name: "Select all shown" });
    expect(all).toHaveProperty("indeterminate", true);
    await user.click(all);
    expect(bar).toHaveTextContent("3 selected");
    await user.click(within(bar).getByRole("button", { name: "Disable selected" }));
    expect(onBulk).toHaveBeenCalledWith("disable");
    await user.click(within(bar).getByRole("button", { name: "Revoke selected" }));
    expect(onBulk).toHaveBeenLastCalledWith("revoke");
    await user.click(within(bar).getByRole("button", { name: "Clear selection" }));
    expect(screen.queryByRole("group", { name: "Selected keys" })).not.toBeInTheDocument();
    // The toolbar went away under the focus: it lands on "Select all shown", not on the page's start.
    expect(screen.getByRole("checkbox", { name: "Select all shown" })).toHaveFocus();
  });
});

describe("a rotation in the key table", () => {
  const grace = new Date(NOW + 86_400_000).toISOString();
  const old: Token = { ...token, id: "o", name: "CI deploys", hint: "kg_old…", status: "rotating", replaced_by: "n", grace_until: grace };
  const fresh: Token = { ...token, id: "n", name: "CI deploys", hint: "kg_new…", replaces: "o", created_at: "2026-06-01T11:00:00Z" };

  it("links the two keys and tells them apart in every accessible name", async () => {
    render(<Table tokens={[old, fresh]} now={NOW} keyHref={(t) => `/keys/${t.id}`} />);
    const oldRow = document.querySelector('tr[data-key-id="o"]') as HTMLElement;
    expect(oldRow).toHaveTextContent("replaced by CI deploys");
    expect(within(oldRow).getByRole("button", { name: "Actions for CI deploys (replaced, stops in 24 h)" })).toBeInTheDocument();
    expect(within(oldRow).getByRole("link", { name: "CI deploys (replaced, stops in 24 h)" })).toHaveAttribute("href", "/keys/o");
    expect(within(oldRow).getByRole("link", { name: "CI deploys (new)" })).toHaveAttribute("href", "/keys/n");
    expect(within(oldRow).getByRole("checkbox", { name: "Select CI deploys (replaced, stops in 24 h)" })).toBeInTheDocument();

    const newRow = document.querySelector('tr[data-key-id="n"]') as HTMLElement;
    expect(within(newRow).getByRole("button", { name: "Actions for CI deploys (new)" })).toBeInTheDocument();
    expect(within(newRow).getByRole("link", { name: "CI deploys (replaced)" })).toHaveAttribute("href", "/keys/o");
    expect(newRow).toHaveTextContent("replaces CI deploys");
    // The old key is being rotated already: its menu says so instead of rotating again.
    await userEvent.setup().click(within(oldRow).getByRole("button", { name: /^Actions for/ }));
    const rotate = screen.getByRole("menuitem", { name: "Rotate" });
    expect(rotate).toHaveAttribute("aria-disabled", "true");
  });
});

describe("keys the gate refuses now", () => {
  const byOwner: Token = {
    ...base,
    id: "r",
    name: "payments",
    refused_now: { code: "usage_exceeded", scope: "owner", reason: "alice's shared credits are used up" },
  };

  it("says so in words, with the reason, even for an active key", () => {
    render(<Table tokens={[byOwner, { ...base, id: "ok", name: "fine" }]} now={NOW} />);
    const row = document.querySelector('tr[data-key-id="r"]') as HTMLElement;
    const status = row.querySelector('td[data-label="Status"]') as HTMLElement;
    expect(status).toHaveTextContent("Active");
    expect(status).toHaveTextContent("Refused — alice's shared credits are used up");
    expect(status).toHaveClass("is-refused");
    const fine = document.querySelector('tr[data-key-id="ok"]') as HTMLElement;
    expect(fine).not.toHaveTextContent("Refused");
  });

  it("leaves the text to the server when it searches: every key it found is shown, with the syntax help", async () => {
    const user = userEvent.setup();
    render(
      <Table
        tokens={[byOwner]}
        now={NOW}
        search={{ help: "Words, name:, status:disabled", error: "unknown status: bogus" }}
        initial={{ q: "status:bogus" }}
      />,
    );
    // "status:bogus" matches nothing here; the server's answer is what is listed.
    expect(document.querySelector('tr[data-key-id="r"]')).toBeInTheDocument();
    expect(screen.getByText("1 key found")).toBeInTheDocument();
    expect(screen.getByText("Words, name:, status:disabled")).toBeInTheDocument();
    const box = screen.getByLabelText("Filter");
    expect(box).toHaveAttribute("aria-invalid", "true");
    expect(box).toHaveAccessibleDescription("unknown status: bogus Words, name:, status:disabled");
    expect(screen.getByRole("alert")).toHaveTextContent("unknown status: bogus");
    await user.type(box, "x");
    expect(screen.getByTestId("state")).toHaveTextContent('"q":"status:bogusx"');
  });
});

describe("selecting every key that matches", () => {
  const many = Array.from({ length: 120 }, (_, i): Token => ({
    ...token,
    id: `m${i}`,
    name: `key ${String(i).padStart(3, "0")}`,
    status: i % 2 ? "disabled" : "active",
    disabled: i % 2 === 1,
  }));

  it("offers all N matching once the page is selected, and takes them from every page", async () => {
    const user = userEvent.setup();
    render(<Table tokens={many} now={NOW} onBulk={vi.fn()} initial={{ status: "disabled" }} />);
    expect(screen.queryByRole("button", { name: /Select all \d+ matching/ })).not.toBeInTheDocument();
    await user.click(screen.getByRole("checkbox", { name: "Select all shown" }));
    const bar = screen.getByRole("group", { name: "Selected keys" });
    expect(bar).toHaveTextContent("50 selected");
    await user.click(screen.getByRole("button", { name: "Select all 60 matching" }));
    expect(bar).toHaveTextContent("60 selected");
    expect(screen.getByText("All 60 matching keys are selected.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /matching/ })).not.toBeInTheDocument();
  });

  it("fetches the pages the list does not hold yet, counted by the server's total", async () => {
    const user = userEvent.setup();
    const rest = Array.from({ length: 30 }, (_, i): Token => ({ ...token, id: `r${i}`, name: `later ${i}` }));
    let release: () => void = () => undefined;
    const fetchRest = vi.fn(
      () =>
        new Promise<Token[]>((resolve) => {
          release = () => {
            resolve(rest);
          };
        }),
    );
    render(
      <Table
        tokens={many}
        now={NOW}
        onBulk={vi.fn()}
        more={{ total: 150, fetchRest }}
        search={{ help: "" }}
        initial={{ q: "team=payments" }}
      />,
    );
    await user.click(screen.getByRole("checkbox", { name: "Select all shown" }));
    await user.click(screen.getByRole("button", { name: "Select all 150 matching" }));
    expect(fetchRest).toHaveBeenCalledTimes(1);
    expect(screen.getByText(/Finding every matching key/)).toBeInTheDocument();
    release();
    const bar = screen.getByRole("group", { name: "Selected keys" });
    await vi.waitFor(() => {
      expect(bar).toHaveTextContent("150 selected");
    });
    expect(screen.getByRole("checkbox", { name: "Select all shown" })).toBeChecked();
  });

  it("does not trust the server's count under a filter of its own, and says why a fetch failed", async () => {
    const user = userEvent.setup();
    const fetchRest = vi.fn(() => Promise.reject(new Error("keygate answered 503.")));
    render(<Table tokens={many} now={NOW} onBulk={vi.fn()} more={{ total: 150, fetchRest }} initial={{ status: "active" }} />);
    await user.click(screen.getByRole("checkbox", { name: "Select all shown" }));
    // "Active" is filtered here, not by the server: its 150 counts the disabled keys too.
    await user.click(screen.getByRole("button", { name: "Select all matching keys" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not fetch every matching key: keygate answered 503.");
    expect(screen.getByRole("group", { name: "Selected keys" })).toHaveTextContent("50 selected");
  });
});
