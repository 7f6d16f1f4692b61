import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { WebhookEndpoint, WebhookSecret } from "../lib/schemas";
import { WebhookDialogs, type WebhookDialogsProps } from "./webhook-dialogs";
import { OneTimeSecret } from "./webhook-secret";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const endpoint: WebhookEndpoint = {
  id: "ep_1",
  url: "https://hooks.example.com/keygate",
  description: "",
  event_types: [],
  owners: [],
  disabled: false,
  created_at: "2026-05-01T00:00:00Z",
  secret_hint: "whsec_MfKQ…",
  signing_secrets: 1,
};
const shown: WebhookSecret = { endpoint, secret: SECRET };

describe("the signing secret, shown once", () => {
  it("shows the secret and says it will not be shown again", () => {
    render(<OneTimeSecret shown={shown} onDone={vi.fn()} />);
    expect(screen.getByLabelText(/Signing secret for/)).toHaveValue(SECRET);
    expect(screen.getByLabelText(/Signing secret for/)).toHaveAccessibleName("Signing secret for https://hooks.example.com/keygate");
    expect(screen.getByText(/Copy this secret now: you will not see it again\./)).toBeInTheDocument();
    expect(screen.queryByTestId("old-secret-until")).not.toBeInTheDocument();
  });

  it("copies it and says so", async () => {
    const user = userEvent.setup();
    const writeText = vi.spyOn(navigator.clipboard, "writeText").mockResolvedValue(undefined);
    const onCopied = vi.fn();
    render(<OneTimeSecret shown={shown} onDone={vi.fn()} onCopied={onCopied} />);
    await user.click(screen.getByRole("button", { name: "Copy secret" }));
    expect(writeText).toHaveBeenCalledWith(SECRET);
    expect(await screen.findByText("Copied")).toBeInTheDocument();
    expect(onCopied).toHaveBeenCalledTimes(1);
  });

  it("after a rotation, says until when the previous secret signs too", () => {
    const { rerender } = render(<OneTimeSecret shown={shown} rotated={{ oldUntil: "2026-05-02T00:00:00Z" }} onDone={vi.fn()} />);
    expect(screen.getByTestId("old-secret-until")).toHaveTextContent(/The previous secret keeps signing too until .*2026/);
    rerender(<OneTimeSecret shown={shown} rotated={{ oldUntil: null }} onDone={vi.fn()} />);
    expect(screen.getByTestId("old-secret-until")).toHaveTextContent("The previous secret no longer signs");
  });
});

describe("the secret's dialog", () => {
  function setup() {
    const onClose = vi.fn();
    const props: WebhookDialogsProps = {
      modal: { kind: "secret", shown },
      types: [],
      typesError: null,
      busy: false,
      error: null,
      onClose,
      onCreate: vi.fn(),
      onUpdate: vi.fn(),
      onRotate: vi.fn(),
      onDelete: vi.fn(),
    };
    render(<WebhookDialogs {...props} />);
    return { onClose, user: userEvent.setup() };
  }

  it("asks before × or Escape close a secret that was not copied", async () => {
    const { onClose, user } = setup();
    const dialog = screen.getByRole("dialog", { name: "The endpoint’s signing secret" });
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(onClose).not.toHaveBeenCalled();
    expect(screen.getByRole("alert")).toHaveTextContent(/You have not copied the secret/);
    expect(screen.getByRole("button", { name: "Back to the secret" })).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Back to the secret" }));
    dialog.dispatchEvent(new Event("cancel", { cancelable: true }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/not copied/);
    await user.click(screen.getByRole("button", { name: "Close without the secret" }));
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it("closes at once once the secret was copied, or when the user says it is saved", async () => {
    const { onClose, user } = setup();
    vi.spyOn(navigator.clipboard, "writeText").mockResolvedValue(undefined);
    await user.click(screen.getByRole("button", { name: "Copy secret" }));
    await screen.findByText("Copied");
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(onClose).toHaveBeenCalledTimes(1);
    await user.click(screen.getByRole("button", { name: "I have saved the secret" }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
