// Admin, on a key's page: add credits to its balance, or set the balance, without
// opening the whole limits form (POST /api/tokens/{id}/credits; PATCH of the balance
// alone, its refill kept). The new balance shows at once; the server's refusal of the
// number is said under the field, any other under the form. Both are audited with the
// balance before and after.
import { type SyntheticEvent, useState } from "react";
import { ApiError } from "../lib/api";
import { creditsLeft, groupDigits } from "../lib/format";
import { useAddCredits, useSetBalance } from "../lib/queries/keys";
import type { Token } from "../lib/schemas";
import { NumberField } from "./number-field";
import "./key-list.css";

/** The API's ceiling for a balance. */
const MAX_CREDITS = 1e15;

/** A whole number of credits from what was typed ("1 000", "1_000" and "1,000" too). */
export function parseCredits(text: string, mode: "add" | "set" = "add"): number | string {
  const t = text.trim().replace(/[\s_,\u202f]/g, "");
  if (t === "") return mode === "add" ? "Enter how many credits to add." : "Enter the new balance.";
  if (!/^\d+$/.test(t)) return `Enter a whole number of credits, ${mode === "add" ? "1" : "0"} or more.`;
  const n = Number(t);
  if (mode === "add" && n < 1) return "Add at least 1 credit.";
  if (n > MAX_CREDITS) return `At most ${groupDigits(MAX_CREDITS)} credits.`;
  return n;
}

export function AddCreditsForm({ token, mode = "add" }: { token: Token; mode?: "add" | "set" }) {
  const added = useAddCredits(token.id);
  const set = useSetBalance(token.id);
  const add = mode === "add" ? added : set;
  const field = mode === "add" ? "add" : "limits";
  const [text, setText] = useState("");
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const [done, setDone] = useState("");
  const server = add.error instanceof ApiError ? add.error : null;
  const fieldError = invalid ?? (server?.field?.startsWith(field) ? server.message : undefined);
  const otherError = add.error && !server?.field?.startsWith(field) ? add.error.message : undefined;

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const n = parseCredits(text, mode);
    setDone("");
    if (typeof n === "string") {
      setInvalid(n);
      return;
    }
    setInvalid(undefined);
    add.mutate(n, {
      onSuccess: (t) => {
        setText("");
        const left = t.limits.credits ? `: ${creditsLeft(t.limits.credits)}` : "";
        setDone(
          mode === "add"
            ? `Added ${groupDigits(n)} ${n === 1 ? "credit" : "credits"}${left}.`
            : `Balance set to ${groupDigits(n)}${left}.`,
        );
      },
    });
  };

  return (
    <form
      className="add-credits"
      onSubmit={submit}
      noValidate
      aria-label={mode === "add" ? `Add credits to ${token.name}` : `Set the balance of ${token.name}`}
    >
      <NumberField
        id={mode === "add" ? "add-credits" : "set-balance"}
        label={mode === "add" ? "Credits to add" : "New balance"}
        error={fieldError}
        value={text}
        placeholder="e.g. 1000"
        onChange={(v) => {
          setText(v);
          setInvalid(undefined);
          if (add.error) add.reset();
        }}
      />
      <button type="submit" className="button" disabled={add.isPending}>
        {mode === "add" ? (add.isPending ? "Adding…" : "Add credits") : add.isPending ? "Setting…" : "Set balance"}
      </button>
      <p className="add-credits-status" role="status" aria-live="polite">
        {done}
      </p>
      {otherError && (
        <p className="notice notice-error" role="alert">
          {otherError}
        </p>
      )}
    </form>
  );
}
