// One confirmation for a change to many keys: it lists them (name and hint), says what
// will happen, shows the progress while the requests go out, and then which keys were
// refused and why (those stay selected, to try again).
import type { BulkAction } from "../lib/key-list-model";
import type { Token } from "../lib/schemas";
import { Dialog } from "./dialog";
import "./key-list.css";

const verbs: Record<BulkAction, { verb: string; doing: string; what: string }> = {
  disable: {
    verb: "Disable",
    doing: "Disabling",
    what: "Requests that send them are refused until they are enabled again.",
  },
  enable: {
    verb: "Enable",
    doing: "Enabling",
    what: "They work again (an expired key stays expired).",
  },
  revoke: {
    verb: "Revoke",
    doing: "Revoking",
    what: "Requests that send them are refused from now on. This cannot be undone.",
  },
};

const keys = (n: number) => (n === 1 ? "1 key" : `${n} keys`);

export interface BulkDialogProps {
  action: BulkAction;
  /** The keys to change (after a partial failure: the ones that failed). */
  tokens: Token[];
  /** Requests are on their way; `done` of them answered. */
  running: boolean;
  done: number;
  /** From the last run: why each refused key was refused, by id; empty when none was. */
  failures: ReadonlyMap<string, string>;
  /** Keys the last run changed (shown once some failed). */
  succeeded: number;
  /** Show each key's owner (an admin's list of one owner's keys does not need it). */
  showOwner?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}

export function BulkDialog(p: BulkDialogProps) {
  const v = verbs[p.action];
  const n = p.tokens.length;
  const failed = p.failures.size > 0;
  return (
    <Dialog title={`${v.verb} ${keys(n)}?`} onClose={p.onClose}>
      {failed ? (
        <div className="notice notice-error" role="alert">
          <p>
            {p.succeeded > 0 ? `${keys(p.succeeded)} done; ` : ""}
            {keys(p.failures.size)} could not be changed. They are still selected:
          </p>
        </div>
      ) : (
        <p>{v.what}</p>
      )}
      <ul className="bulk-list">
        {p.tokens.map((t) => (
          <li key={t.id}>
            <strong>{t.name}</strong> <code className="hint-code">{t.hint}</code>
            {p.showOwner && <span className="muted"> of {t.owner}</span>}
            {p.failures.has(t.id) && <span className="bulk-error">{p.failures.get(t.id)}</span>}
          </li>
        ))}
      </ul>
      <p className="muted small" role="status" aria-live="polite">
        {p.running ? `${v.doing}… ${p.done} of ${n}` : ""}
      </p>
      <div className="actions">
        <button type="button" className="button" onClick={p.onClose} data-autofocus="">
          {failed ? "Done" : "Cancel"}
        </button>
        <button
          type="button"
          className={p.action === "revoke" ? "button button-danger" : "button button-primary"}
          disabled={p.running || n === 0}
          onClick={p.onConfirm}
        >
          {p.running ? `${v.doing}…` : failed ? `Try again: ${v.verb.toLowerCase()} ${keys(n)}` : `${v.verb} ${keys(n)}`}
        </button>
      </div>
    </Dialog>
  );
}
