// Everyone's keys (admin): the owner column's cell, and the question "New key" asks
// there first. A key always belongs to someone, and everyone's list has no one to give
// it to: the admin names the owner (any subject, listed or not, as on the Owners page),
// then fills in the same form as on that owner's page.
import { useDeferredValue, useId, useState } from "react";
import { Link } from "react-router-dom";
import { ownerHref } from "../lib/links";
import { useOwners } from "../lib/queries/owners";
import { Dialog } from "./dialog";

/** `owner:NAME` as the server's search reads it: quoted when it holds a space or a quote. */
export const ownerTerm = (owner: string) => (/[\s"]/.test(owner) ? `owner:"${owner.replace(/"/g, "")}"` : `owner:${owner}`);

/** The owner's page, and a button that narrows the list to their keys (`owner:` in the search). */
export function OwnerCell({ owner, q, onOnly }: { owner: string; q: string; onOnly: (q: string) => void }) {
  const term = ownerTerm(owner);
  const has = q.split(/\s+/).includes(term);
  return (
    <span className="owner-cell">
      <Link to={ownerHref(owner)}>{owner}</Link>
      {!has && (
        <button
          type="button"
          className="owner-only"
          aria-label={`Show only ${owner}’s keys`}
          title={`Show only ${owner}’s keys (${term})`}
          onClick={() => {
            onOnly(q.trim() ? `${q.trim()} ${term}` : term);
          }}
        >
          <svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true" focusable="false">
            <path d="M3 4h14l-5.5 6.5V16l-3 1.5v-7z" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinejoin="round" />
          </svg>
        </button>
      )}
    </span>
  );
}

/** "Whose key?": then the usual form opens, for that owner. */
export function OwnerPrompt({
  initial,
  onChoose,
  onClose,
}: {
  initial: string;
  onChoose: (owner: string) => void;
  onClose: () => void;
}) {
  const [owner, setOwner] = useState(initial);
  const [tried, setTried] = useState(false);
  const id = useId();
  // Owners with keys, as suggestions; anyone else can be typed in.
  const owners = useOwners(useDeferredValue(owner.trim()));
  const known = owners.data?.pages[0]?.owners ?? [];
  const missing = tried && !owner.trim();
  return (
    <Dialog title="New key: whose is it?" onClose={onClose}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setTried(true);
          if (owner.trim()) onChoose(owner.trim());
        }}
      >
        <p className="hint">
          Every key belongs to an owner, who can see and manage it. Name them here (their subject, as your identity
          provider sends it); the same form as on their own page follows.
        </p>
        <div className="field">
          <label htmlFor={`${id}-owner`}>Owner</label>
          <input
            id={`${id}-owner`}
            data-autofocus
            type="text"
            value={owner}
            list={`${id}-owners`}
            autoComplete="off"
            spellCheck={false}
            placeholder="e.g. bob@example.com"
            aria-invalid={missing}
            {...(missing ? { "aria-describedby": `${id}-err` } : {})}
            onChange={(e) => {
              setOwner(e.target.value);
            }}
          />
          <datalist id={`${id}-owners`}>
            {known.map((o) => (
              <option key={o.owner} value={o.owner} />
            ))}
          </datalist>
          {missing && (
            <p className="field-error" id={`${id}-err`} role="alert">
              Name the key’s owner.
            </p>
          )}
        </div>
        <div className="actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary">
            Continue
          </button>
        </div>
      </form>
    </Dialog>
  );
}
