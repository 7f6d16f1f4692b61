import type { Token } from "../lib/schemas";

/** Revoking is final: say which key, and what happens. */
export function RevokeConfirm({
  token,
  submitting,
  onRevoke,
  onCancel,
}: {
  token: Token;
  submitting: boolean;
  onRevoke: () => void;
  onCancel: () => void;
}) {
  return (
    <div>
      <p>
        Revoke <strong>“{token.name}”</strong> <code>{token.hint}</code>
        {token.owner ? <> of {token.owner}</> : null}? Requests that send it are refused from now on. This cannot be
        undone.
      </p>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel} data-autofocus="">
          Keep the key
        </button>
        <button type="button" className="button button-danger" disabled={submitting} onClick={onRevoke}>
          {submitting ? "Revoking…" : `Revoke “${token.name}”`}
        </button>
      </div>
    </div>
  );
}
