// One confirmation for a change to many keys: it says how many (all of them, when "Select
// all N matching" reached beyond the pages on screen), lists them (name and hint; the
// first LISTED of a long list, then how many more), says what will happen, shows the
// progress while the requests go out, and then how many failed for which reason and
// which keys they were (those stay selected, to try again).
import { groupDigits } from "../lib/format";
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

const keys = (n: number) => (n === 1 ? "1 key" : `${groupDigits(n)} keys`);

/** Keys named in the dialog: a list of 500 would bury the buttons, and say nothing more. */
export const LISTED = 50;

/** "12 × key not found; 3 × the key changed meanwhile", most frequent first. */
export function failureSummary(failures: ReadonlyMap<string, string>): string {
  const counts = new Map<string, number>();
  for (const why of failures.values()) counts.set(why, (counts.get(why) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([why, n]) => `${groupDigits(n)} × ${why}`)
    .join("; ");
}

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
  // After a failure every refused key is listed, with why; before, the first LISTED.
  const listed = failed ? p.tokens : p.tokens.slice(0, LISTED);
  return (
    <Dialog title={`${v.verb} ${keys(n)}?`} onClose={p.onClose}>
      {failed ? (
        <div className="notice notice-error" role="alert">
          <p>
            {p.succeeded > 0 ? `${keys(p.succeeded)} done; ` : ""}
            {keys(p.failures.size)} could not be changed. They are still selected:
          </p>
          <p className="bulk-reasons">{failureSummary(p.failures)}</p>
        </div>
      ) : (
        <p>{v.what}</p>
      )}
      <ul className="bulk-list">
        {listed.map((t) => (
          <li key={t.id}>
            <strong>{t.name}</strong> <code className="hint-code">{t.hint}</code>
            {p.showOwner && <span className="muted"> of {t.owner}</span>}
            {p.failures.has(t.id) && <span className="bulk-error">{p.failures.get(t.id)}</span>}
          </li>
        ))}
      </ul>
      {listed.length < n && <p className="muted small">… and {keys(n - listed.length)} more.</p>}
      {p.running && <progress className="bulk-progress" max={n} value={p.done} aria-label={`${v.doing} keys`} />}
      <p className="muted small" role="status" aria-live="polite">
        {p.running ? `${v.doing}… ${groupDigits(p.done)} of ${groupDigits(n)}` : ""}
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
