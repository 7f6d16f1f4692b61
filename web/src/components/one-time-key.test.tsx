import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { useAuth } from "../lib/auth";
import { type Created, type Token, meSchema } from "../lib/schemas";
import { json, mockApi, renderWithApi } from "../test-render";
import { token as fixture } from "../test-fixtures";
import { KeyDialogs, type Modal } from "./key-dialogs";
import { OneTimeKey } from "./one-time-key";

const KEY = "kg_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghi";
const token: Token = { ...fixture, id: "tok1", name: "deploys", hint: "kg_0123…fghi", created_at: "2026-06-01T12:00:00Z" };
const created: Created = { key: KEY, id: "tok1", hint: token.hint, token };

describe("the one-time key", () => {
  it("shows the key once, says so, and offers snippets", () => {
    render(<OneTimeKey created={created} gateUrl="https://gate.example.com/forward-auth" onDone={vi.fn()} />);
    expect(screen.getByLabelText(/Key “deploys”/)).toHaveValue(KEY);
    expect(screen.getByText(/you will not see it again/i)).toBeInTheDocument();
    expect(screen.getByText(`Authorization: Bearer ${KEY}`)).toBeInTheDocument();
    // No rule names a host: an obvious blank, said so, and never keygate's own address.
    expect(screen.getByText(`curl -H 'Authorization: Bearer ${KEY}' https://YOUR-API-HOST/`)).toBeInTheDocument();
    expect(screen.getByTestId("host-blank")).toHaveTextContent("put your API’s host in place of YOUR-API-HOST");
    const check = screen.getByTestId("check-snippet").textContent;
    expect(check).toContain("-H 'X-Forwarded-Method: GET'");
    expect(check).toContain("-H 'X-Forwarded-Host: YOUR-API-HOST'");
    expect(check).toContain("https://gate.example.com/forward-auth");
    expect(screen.getByTestId("service-snippet").textContent).not.toContain("gate.example.com");
  });

  it("aims the snippets at the host the key's rules name", () => {
    const ruled = {
      ...token,
      rules: [
        { hosts: [], paths: ["/v2/orders"], methods: ["GET"] },
        { hosts: ["billing.example.com"], paths: [], methods: [] },
      ],
    };
    render(<OneTimeKey created={{ ...created, token: ruled }} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    expect(screen.getByTestId("service-snippet")).toHaveTextContent(
      `curl -H 'Authorization: Bearer ${KEY}' https://billing.example.com/v2/orders`,
    );
    expect(screen.getByTestId("check-snippet").textContent).toContain("-H 'X-Forwarded-Host: billing.example.com'");
    expect(screen.queryByTestId("host-blank")).not.toBeInTheDocument();
  });

  it("checks the key with a request its first rule allows", () => {
    const ruled = { ...token, rules: [{ hosts: ["*.example.com"], paths: ["/v1/*"], methods: ["POST", "GET"] }] };
    render(<OneTimeKey created={{ ...created, token: ruled }} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    const check = screen.getByTestId("check-snippet").textContent;
    expect(check).toContain("-H 'X-Forwarded-Method: POST'");
    expect(check).toContain("-H 'X-Forwarded-Host: api.example.com'");
    expect(check).toContain("-H 'X-Forwarded-Uri: /v1/example'");
    expect(screen.getByText(`curl -X POST -H 'Authorization: Bearer ${KEY}' https://api.example.com/v1/example`)).toBeInTheDocument();
  });

  it("says when the key expires", () => {
    render(<OneTimeKey created={{ ...created, token: { ...token, expires_at: null } }} gateUrl="https://g" onDone={vi.fn()} />);
    expect(screen.getByText("It never expires.")).toBeInTheDocument();
  });

  it("copies the key to the clipboard and says it did", async () => {
    const user = userEvent.setup();
    const writeText = vi.spyOn(navigator.clipboard, "writeText").mockResolvedValue(undefined);
    const onCopied = vi.fn();
    render(<OneTimeKey created={created} gateUrl="https://gate/forward-auth" onDone={vi.fn()} onCopied={onCopied} />);
    await user.click(screen.getByRole("button", { name: "Copy key" }));
    expect(writeText).toHaveBeenCalledWith(KEY);
    expect(await screen.findByText("Copied")).toBeInTheDocument();
    expect(onCopied).toHaveBeenCalledTimes(1);
  });

  it("says so when copying fails", async () => {
    const user = userEvent.setup();
    vi.spyOn(navigator.clipboard, "writeText").mockRejectedValue(new Error("denied"));
    render(<OneTimeKey created={created} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    await user.click(screen.getByRole("button", { name: "Copy key" }));
    expect(await screen.findByText(/Copy failed/)).toBeInTheDocument();
  });

  it("closes only when the user says the key is saved", async () => {
    const user = userEvent.setup();
    const onDone = vi.fn();
    render(<OneTimeKey created={created} gateUrl="https://gate/forward-auth" onDone={onDone} />);
    await user.click(screen.getByRole("button", { name: "I have saved the key" }));
    expect(onDone).toHaveBeenCalledTimes(1);
  });

  it("tells how long the old key lasts after a rotation", () => {
    const replaced = { ...token, id: "old", hint: "kg_old…", status: "rotating" as const, grace_until: "2026-06-02T12:00:00Z" };
    render(<OneTimeKey created={{ ...created, replaced }} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    expect(screen.getByText(/The old key kg_old… keeps working until/)).toBeInTheDocument();
  });
});

describe("the one-time key's dialog", () => {
  function setup() {
    const onClose = vi.fn();
    const modal: Modal = { kind: "created", created };
    const noop = vi.fn();
    render(
      <KeyDialogs
        modal={modal}
        gateUrl="https://gate/forward-auth"
        busy={false}
        error={null}
        onClose={onClose}
        onCreate={noop}
        onUpdate={noop}
        onRotate={noop}
        onRevoke={noop}
      />,
    );
    return { onClose, user: userEvent.setup() };
  }

  it("asks before × or Escape close a key that was not copied", async () => {
    const { onClose, user } = setup();
    const dialog = screen.getByRole("dialog", { name: "Your new key" });
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(onClose).not.toHaveBeenCalled();
    expect(screen.getByRole("alert")).toHaveTextContent(/You have not copied the key/);
    expect(screen.getByRole("button", { name: "Back to the key" })).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Back to the key" }));
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    dialog.dispatchEvent(new Event("cancel", { cancelable: true }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/not copied/);
    expect(onClose).not.toHaveBeenCalled();
    await user.click(screen.getByRole("button", { name: "Close without the key" }));
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it("closes at once once the key was copied, or when the user says it is saved", async () => {
    const { onClose, user } = setup();
    vi.spyOn(navigator.clipboard, "writeText").mockResolvedValue(undefined);
    await user.click(screen.getByRole("button", { name: "Copy key" }));
    await screen.findByText("Copied");
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(screen.queryByText(/not copied/)).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "I have saved the key" }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});

describe("the one-time key when the session ends", () => {
  it("stays on screen, with the notice, until the user leaves", async () => {
    mockApi({ "GET /api/me": () => json(401, { error: "unauthorized", message: "expired" }) });
    function Probe() {
      const { session, api } = useAuth();
      return (
        <>
          <p>{session ? "logged in" : "logged out"}</p>
          <button
            type="button"
            onClick={() => {
              api.get("/api/me", meSchema).catch(() => undefined);
            }}
          >
            Ask keygate
          </button>
          {session && (
            <KeyDialogs
              modal={{ kind: "created", created }}
              gateUrl="https://gate/forward-auth"
              busy={false}
              error={null}
              onClose={vi.fn()}
              onCreate={vi.fn()}
              onUpdate={vi.fn()}
              onRotate={vi.fn()}
              onRevoke={vi.fn()}
            />
          )}
        </>
      );
    }
    renderWithApi(<Probe />);
    const user = userEvent.setup();
    // The dialog is modal: the probe's button is reached by a click event, as a background request would be.
    screen.getByRole("button", { name: "Ask keygate", hidden: true }).click();
    expect(await screen.findByText(/Your session has ended/)).toBeInTheDocument();
    expect(screen.getByText("logged in")).toBeInTheDocument();
    expect(screen.getByTestId("new-key")).toHaveValue(KEY);
    await user.click(screen.getByRole("button", { name: "Log in again" }));
    expect(await screen.findByText("logged out")).toBeInTheDocument();
  });
});
