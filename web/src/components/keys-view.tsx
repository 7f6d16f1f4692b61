// A page of keys with everything one can do to them: pure, driven by its props. The
// head is kept short (title and "New key" on one line, the panels beside each other on
// a wide screen) so that the list starts high on the screen.
import type { ReactNode } from "react";
import type { ApiError } from "../lib/api";
import type { KeyFormValues } from "../lib/key-form-model";
import type { BulkAction, ListState } from "../lib/key-list-model";
import type { GrantableState } from "../lib/queries/grants";
import type { Token } from "../lib/schemas";
import { BulkDialog, type BulkDialogProps } from "./bulk-dialog";
import { KeyDialogs, type Modal } from "./key-dialogs";
import { KeyTable, type MoreKeys, type ServerSearch } from "./key-table";

export type { Modal } from "./key-dialogs";

export interface KeysViewProps {
  title: string;
  intro?: string;
  /** Shown above the list: the owner's limits. */
  aside?: ReactNode;
  tokens: Token[];
  /** Ids of keys whose stored record cannot be read: they can only be deleted. */
  damaged?: string[];
  /** More of the keys are still being fetched (the list shows those it has). */
  loadingMore?: boolean;
  /**
   * The server holds more matching keys than were asked for (everyone's keys come 500
   * at a time, in the list's order): how many are shown, of how many, and a way to ask
   * for the next 500.
   */
  loadMore?: { shown: number; total?: number | undefined; onLoad: () => void };
  /** Filter, status, sort, "unused for" and page (kept in the URL by the page). */
  list: ListState;
  onList: (s: ListState) => void;
  /** Rows per page of the list. */
  pageSize?: number;
  /** Selected keys' ids, and how the selection changes; with `onBulk`, what to do to them. */
  selected?: ReadonlySet<string>;
  onSelect?: (ids: string[], on: boolean) => void;
  onBulk?: (action: BulkAction) => void;
  /** Disable or enable one key, from its row's menu. */
  onSetDisabled?: (t: Token, disabled: boolean) => void;
  /** The server has more matching keys than `tokens` holds ("Select all N matching"). */
  more?: MoreKeys;
  /** What the last bulk change did ("3 keys disabled."), announced politely. */
  message?: string;
  /** The open bulk confirmation, if any. */
  bulk?: BulkDialogProps | null;
  onDeleteDamaged?: (id: string) => void;
  now: number;
  gateUrl: string;
  modal: Modal;
  busy: boolean;
  error: ApiError | Error | null;
  /** False: the forms say that limits can only be tightened. */
  mayRaiseLimits?: boolean;
  /** What the key forms may offer to attach. */
  grantable?: GrantableState;
  onModal: (m: Modal) => void;
  onCreate: (v: KeyFormValues) => void;
  onUpdate: (t: Token, v: KeyFormValues) => void;
  /** `expiresAt`: the new key's expiry as the rotate dialog chose it (null: never). */
  onRotate: (t: Token, graceSeconds: number, expiresAt: string | null) => void;
  onRevoke: (t: Token) => void;
  /** Where each key's own page is. */
  keyHref?: (t: Token) => string;
  /** Each key's recent usage, in its own column. */
  activity?: (t: Token) => ReactNode;
  /** Each key's owner, in its own column after the name (everyone's keys). */
  owner?: (t: Token) => ReactNode;
  /** The filter text is searched for by the server (`tokens` are what it found). */
  search?: ServerSearch;
}

export function KeysView(p: KeysViewProps) {
  const close = () => {
    p.onModal({ kind: "none" });
  };
  const m = p.modal;
  return (
    <section className="page keys-page">
      <div className="page-head">
        <h1>{p.title}</h1>
        <button
          type="button"
          className="button button-primary"
          onClick={() => {
            p.onModal({ kind: "create" });
          }}
        >
          New key
        </button>
      </div>
      {p.intro && <p className="muted keys-intro">{p.intro}</p>}
      {p.aside && <div className="keys-aside">{p.aside}</div>}
      <p className="bulk-message" role="status" aria-live="polite">
        {p.message}
      </p>
      {p.damaged && p.damaged.length > 0 && (
        <div className="notice notice-error" role="alert">
          <p>
            {p.damaged.length === 1 ? "One key" : `${p.damaged.length} keys`} could not be read (the stored record is
            damaged). They do not work; delete them:
          </p>
          <ul>
            {p.damaged.map((id) => (
              <li key={id}>
                <code>{id}</code>{" "}
                {p.onDeleteDamaged && (
                  <button
                    type="button"
                    className="button"
                    disabled={p.busy}
                    onClick={() => {
                      p.onDeleteDamaged?.(id);
                    }}
                  >
                    Delete
                  </button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
      {p.tokens.length === 0 && !(p.search && p.list.q.trim()) ? (
        <div className="empty">
          <p>No keys yet.</p>
          <p className="muted">Make one with “New key”: you will see it once, with snippets to paste.</p>
        </div>
      ) : (
        <KeyTable
          tokens={p.tokens}
          now={p.now}
          state={p.list}
          onState={p.onList}
          {...(p.pageSize ? { pageSize: p.pageSize } : {})}
          {...(p.selected && p.onSelect ? { selected: p.selected, onSelect: p.onSelect } : {})}
          {...(p.onBulk ? { onBulk: p.onBulk } : {})}
          {...(p.onSetDisabled ? { onSetDisabled: p.onSetDisabled } : {})}
          {...(p.more ? { more: p.more } : {})}
          {...(p.keyHref ? { keyHref: p.keyHref } : {})}
          {...(p.activity ? { activity: p.activity } : {})}
          {...(p.owner ? { owner: p.owner } : {})}
          {...(p.search ? { search: p.search } : {})}
          onEdit={(token) => {
            p.onModal({ kind: "edit", token });
          }}
          onRotate={(token) => {
            p.onModal({ kind: "rotate", token });
          }}
          onRevoke={(token) => {
            p.onModal({ kind: "revoke", token });
          }}
        />
      )}
      {p.loadMore && (
        <p className="page-status load-more">
          {p.loadMore.total === undefined
            ? `The first ${p.loadMore.shown.toLocaleString()} matching keys, in this order.`
            : `The first ${p.loadMore.shown.toLocaleString()} of ${p.loadMore.total.toLocaleString()} matching keys, in this order.`}{" "}
          <button type="button" className="button button-small" onClick={p.loadMore.onLoad}>
            Load 500 more
          </button>
        </p>
      )}
      {p.loadingMore && (
        <p className="page-status" role="status" aria-live="polite">
          <span className="spinner" aria-hidden="true" /> Loading more keys…
        </p>
      )}
      {p.bulk && <BulkDialog {...p.bulk} />}
      <KeyDialogs
        modal={m}
        gateUrl={p.gateUrl}
        busy={p.busy}
        error={p.error}
        {...(p.mayRaiseLimits === undefined ? {} : { mayRaiseLimits: p.mayRaiseLimits })}
        {...(p.grantable ? { grantable: p.grantable } : {})}
        onClose={close}
        onCreate={p.onCreate}
        onUpdate={p.onUpdate}
        onRotate={p.onRotate}
        onRevoke={p.onRevoke}
      />
    </section>
  );
}
