// Rotate: a new key with the same settings; the old one works for a grace period.
// The expiry rule, said in the dialog: the new key expires when the old one does (or
// never, like it). An expired key's expiry is not carried over, and not dropped
// silently either: the user chooses the new key's expiry (the API refuses a rotation
// of an expired key without one, 422).
import { useId, useState } from "react";
import { type ExpiryPreset, absolute, expiryOf, expiryPresets, localMidnight, relative } from "../lib/format";
import type { Token } from "../lib/schemas";
import { ExpiryField } from "./expiry-field";

export const graceOptions = [
  { seconds: 0, label: "No grace: the old key stops now" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day" },
  { seconds: 7 * 86_400, label: "7 days" },
  { seconds: 30 * 86_400, label: "30 days (the longest)" },
];

/** Has the key's expiry passed (so its successor needs one of its own)? */
export const hasExpired = (t: Token, now: number = Date.now()) =>
  t.status === "expired" || (t.expires_at !== null && Date.parse(t.expires_at) <= now);

/** Nothing chosen yet: an expired key's successor needs an explicit choice. */
type Choice = Exclude<ExpiryPreset, "keep"> | "";

/** The new key's expiry for a choice; undefined while none is valid. */
export function successorExpiry(choice: Choice, customDate: string, now: number): string | null | undefined {
  if (choice === "") return undefined;
  if (choice === "custom") {
    const at = localMidnight(customDate);
    return at !== null && Date.parse(at) > now ? at : undefined;
  }
  return expiryOf(choice, customDate, now);
}

export function RotateForm({
  token,
  submitting,
  onRotate,
  onCancel,
  now: nowProp,
}: {
  token: Token;
  submitting: boolean;
  /** `expiresAt`: the new key's expiry, always said (null: never). */
  onRotate: (graceSeconds: number, expiresAt: string | null) => void;
  onCancel: () => void;
  /** For tests: "now" in ms. */
  now?: number;
}) {
  const [opened] = useState(() => Date.now());
  const now = nowProp ?? opened;
  const [grace, setGrace] = useState(86_400);
  const [choice, setChoice] = useState<Choice>("");
  const [customDate, setCustomDate] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const id = useId();
  const expired = hasExpired(token, now);
  const chosen = expired ? successorExpiry(choice, customDate, now) : token.expires_at;
  const expiryError =
    submitted && chosen === undefined
      ? choice === "custom"
        ? "Pick a day in the future."
        : "Choose when the new key expires."
      : undefined;
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setSubmitted(true);
        if (chosen !== undefined) onRotate(grace, chosen);
      }}
    >
      <p>
        Rotating “{token.name}” <code>{token.hint}</code> makes a new key with the same name, rules, metadata and limits.
        You will see the new key once.
      </p>
      {!expired && (
        <p className="notice rotate-expiry" data-testid="rotate-expiry">
          {token.expires_at ? (
            <>
              The new key expires when this one does:{" "}
              <time dateTime={token.expires_at}>{absolute(token.expires_at)}</time> ({relative(token.expires_at, now)}).
              Change it afterwards with Edit if needed.
            </>
          ) : (
            <>The new key never expires, like this one.</>
          )}
        </p>
      )}
      {expired && token.expires_at && (
        <p className="notice notice-warn rotate-expiry" data-testid="rotate-expiry">
          This key expired on <time dateTime={token.expires_at}>{absolute(token.expires_at)}</time> (
          {relative(token.expires_at, now)}). Its expiry is not carried over: choose when the new key expires.
        </p>
      )}
      {expired && (
        <ExpiryField
          id={id}
          label="The new key expires"
          value={choice}
          options={expiryPresets}
          onChange={setChoice}
          prompt="Choose…"
          autoFocus
          error={choice === "custom" ? undefined : expiryError}
          date={customDate}
          onDate={setCustomDate}
          dateError={expiryError}
          now={now}
        />
      )}
      <div className="field">
        <label htmlFor={`${id}-grace`}>How long the old key keeps working</label>
        <select
          id={`${id}-grace`}
          {...(expired ? {} : { "data-autofocus": "" })}
          value={grace}
          onChange={(e) => {
            setGrace(Number(e.target.value));
          }}
        >
          {graceOptions.map((o) => (
            <option key={o.seconds} value={o.seconds}>
              {o.label}
            </option>
          ))}
        </select>
      </div>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? "Rotating…" : "Rotate key"}
        </button>
      </div>
    </form>
  );
}
