// A page of keys with everything one can do to them: pure, driven by its props.
import type { ReactNode } from "react";
import type { ApiError } from "../lib/api";
import { emptyForm, formOf, type KeyFormValues } from "../lib/key-form-model";
import type { Created, Token } from "../lib/schemas";
import { Dialog } from "./dialog";
import { KeyForm } from "./key-form";
import { KeyTable } from "./key-table";
import { OneTimeKey } from "./one-time-key";
import { RevokeConfirm } from "./revoke-confirm";
import { RotateForm } from "./rotate-form";

export type Modal =
  | { kind: "none" }
  | { kind: "create" }
  | { kind: "edit"; token: Token }
  | { kind: "rotate"; token: Token }
  | { kind: "revoke"; token: Token }
  | { kind: "created"; created: Created };

export interface KeysViewProps {
  title: string;
  intro?: string;
  /** Shown above the list: the owner's limits. */
  aside?: ReactNode;
  tokens: Token[];
  /** Ids of keys whose stored record cannot be read: they can only be deleted. */
  damaged?: string[];
  /** Another page of keys exists. */
  more?: boolean;
  loadingMore?: boolean;
  onMore?: () => void;
  onDeleteDamaged?: (id: string) => void;
  now: number;
  gateUrl: string;
  modal: Modal;
  busy: boolean;
  error: ApiError | Error | null;
  /** False: the forms say that limits can only be tightened. */
  mayRaiseLimits?: boolean;
  onModal: (m: Modal) => void;
  onCreate: (v: KeyFormValues) => void;
  onUpdate: (t: Token, v: KeyFormValues) => void;
  onRotate: (t: Token, graceSeconds: number) => void;
  onRevoke: (t: Token) => void;
}

export function KeysView(p: KeysViewProps) {
  const close = () => {
    p.onModal({ kind: "none" });
  };
  const m = p.modal;
  return (
    <section className="page">
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
      {p.intro && <p className="muted">{p.intro}</p>}
      {p.aside}
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
      {p.tokens.length === 0 ? (
        <div className="empty">
          <p>No keys yet.</p>
          <p className="muted">Make one with “New key”: you will see it once, with snippets to paste.</p>
        </div>
      ) : (
        <KeyTable
          tokens={p.tokens}
          now={p.now}
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
      {p.more && p.onMore && (
        <button type="button" className="button" disabled={p.loadingMore} onClick={p.onMore}>
          {p.loadingMore ? "Loading…" : "More keys"}
        </button>
      )}
      {m.kind === "create" && (
        <Dialog title="New key" onClose={close} wide>
          <KeyForm
            mode="create"
            initial={emptyForm()}
            submitting={p.busy}
            serverError={p.error}
            mayRaiseLimits={p.mayRaiseLimits ?? true}
            onSubmit={p.onCreate}
            onCancel={close}
          />
        </Dialog>
      )}
      {m.kind === "edit" && (
        <Dialog title={`Edit “${m.token.name}”`} onClose={close} wide>
          <KeyForm
            mode="edit"
            initial={formOf(m.token)}
            currentExpiry={m.token.expires_at}
            submitting={p.busy}
            serverError={p.error}
            mayRaiseLimits={p.mayRaiseLimits ?? true}
            onSubmit={(v) => {
              p.onUpdate(m.token, v);
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {m.kind === "rotate" && (
        <Dialog title={`Rotate “${m.token.name}”`} onClose={close}>
          {p.error && (
            <p className="notice notice-error" role="alert">
              {p.error.message}
            </p>
          )}
          <RotateForm
            token={m.token}
            submitting={p.busy}
            onRotate={(grace) => {
              p.onRotate(m.token, grace);
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {m.kind === "revoke" && (
        <Dialog title={`Revoke “${m.token.name}”?`} onClose={close}>
          {p.error && (
            <p className="notice notice-error" role="alert">
              {p.error.message}
            </p>
          )}
          <RevokeConfirm
            token={m.token}
            submitting={p.busy}
            onRevoke={() => {
              p.onRevoke(m.token);
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {m.kind === "created" && (
        <Dialog title="Your new key" onClose={close} wide>
          <OneTimeKey created={m.created} gateUrl={p.gateUrl} onDone={close} />
        </Dialog>
      )}
    </section>
  );
}
