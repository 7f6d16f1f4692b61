// Admin, on a key's page: add credits to its balance without opening the whole limits
// form (POST /api/tokens/{id}/credits). The new balance shows at once; the server's
// refusal of the number is said under the field, any other under the form.
import { type SyntheticEvent, useState } from "react";
import { ApiError } from "../lib/api";
import { creditsLeft, groupDigits } from "../lib/format";
import { useAddCredits } from "../lib/queries/keys";
import type { Token } from "../lib/schemas";
import { NumberField } from "./number-field";
import "./key-list.css";

/** The API's ceiling for a balance. */
const MAX_CREDITS = 1e15;

/** A whole number of credits from what was typed ("1 000", "1_000" and "1,000" too). */
export function parseCredits(text: string): number | string {
  const t = text.trim().replace(/[\s_,\u202f]/g, "");
  if (t === "") return "Enter how many credits to add.";
  if (!/^\d+$/.test(t)) return "Enter a whole number of credits, 1 or more.";
  const n = Number(t);
  if (n < 1) return "Add at least 1 credit.";
  if (n > MAX_CREDITS) return `At most ${groupDigits(MAX_CREDITS)} credits.`;
  return n;
}

export function AddCreditsForm({ token }: { token: Token }) {
  const add = useAddCredits(token.id);
  const [text, setText] = useState("");
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const [done, setDone] = useState("");
  const server = add.error instanceof ApiError ? add.error : null;
  const fieldError = invalid ?? (server?.field === "add" ? server.message : undefined);
  const otherError = add.error && !(server?.field === "add") ? add.error.message : undefined;

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const n = parseCredits(text);
    setDone("");
    if (typeof n === "string") {
      setInvalid(n);
      return;
    }
    setInvalid(undefined);
    add.mutate(n, {
      onSuccess: (t) => {
        setText("");
        setDone(
          `Added ${groupDigits(n)} ${n === 1 ? "credit" : "credits"}${t.limits.credits ? `: ${creditsLeft(t.limits.credits)}` : ""}.`,
        );
      },
    });
  };

  return (
    <form className="add-credits" onSubmit={submit} noValidate aria-label={`Add credits to ${token.name}`}>
      <NumberField
        id="add-credits"
        label="Credits to add"
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
        {add.isPending ? "Adding…" : "Add credits"}
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
