// Rotate: a new key with the same settings; the old one works for a grace period.
import { useId, useState } from "react";
import type { Token } from "../lib/schemas";

export const graceOptions = [
  { seconds: 0, label: "No grace: the old key stops now" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day" },
  { seconds: 7 * 86_400, label: "7 days" },
  { seconds: 30 * 86_400, label: "30 days (the longest)" },
];

export function RotateForm({
  token,
  submitting,
  onRotate,
  onCancel,
}: {
  token: Token;
  submitting: boolean;
  onRotate: (graceSeconds: number) => void;
  onCancel: () => void;
}) {
  const [grace, setGrace] = useState(86_400);
  const id = useId();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        onRotate(grace);
      }}
    >
      <p>
        Rotating “{token.name}” <code>{token.hint}</code> makes a new key with the same name, expiry, rules and metadata.
        You will see the new key once.
      </p>
      <div className="field">
        <label htmlFor={id}>How long the old key keeps working</label>
        <select
          id={id}
          data-autofocus=""
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
