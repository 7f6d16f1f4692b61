// The dialogs of a key's actions (create, edit, rotate, revoke, the new key shown once),
// shared by the key list and a key's own page. Pure: driven by `modal`.
import { useState } from "react";
import type { ApiError } from "../lib/api";
import { useUnsavedGuard } from "../lib/auth";
import { emptyForm, formOf, type KeyFormValues } from "../lib/key-form-model";
import type { GrantableState } from "../lib/queries/grants";
import type { Created, Token } from "../lib/schemas";
import { Dialog } from "./dialog";
import { KeyForm } from "./key-form";
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

export interface KeyDialogsProps {
  modal: Modal;
  gateUrl: string;
  busy: boolean;
  error: ApiError | Error | null;
  /** False: the forms say that limits can only be tightened. */
  mayRaiseLimits?: boolean;
  /** What the forms may offer to attach (roles, permissions); absent: still loading. */
  grantable?: GrantableState;
  onClose: () => void;
  onCreate: (v: KeyFormValues) => void;
  onUpdate: (t: Token, v: KeyFormValues) => void;
  /** `expiresAt`: the new key's expiry as the dialog said it (null: never). */
  onRotate: (t: Token, graceSeconds: number, expiresAt: string | null) => void;
  onRevoke: (t: Token) => void;
}

/** Asked before a new key that has not been copied is closed away. */
export const uncopiedKeyGuard = {
  message: "You have not copied the key. Once this dialog is closed, nobody can show it again.",
  stay: "Back to the key",
  leave: "Close without the key",
};

export function KeyDialogs(p: KeyDialogsProps) {
  const m = p.modal;
  const close = p.onClose;
  // Which new key was copied: until then, closing it asks, and an ending session keeps it.
  const [copied, setCopied] = useState<string | null>(null);
  const unsaved = m.kind === "created" && copied !== m.created.id;
  useUnsavedGuard(unsaved);
  return (
    <>
      {m.kind === "create" && (
        <Dialog title="New key" onClose={close} wide>
          <KeyForm
            mode="create"
            initial={emptyForm()}
            submitting={p.busy}
            serverError={p.error}
            mayRaiseLimits={p.mayRaiseLimits ?? true}
            {...(p.grantable ? { grantable: p.grantable } : {})}
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
            {...(p.grantable ? { grantable: p.grantable } : {})}
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
            onRotate={(grace, expiresAt) => {
              p.onRotate(m.token, grace, expiresAt);
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
        <Dialog title="Your new key" onClose={close} wide guard={unsaved ? uncopiedKeyGuard : null}>
          <OneTimeKey
            created={m.created}
            gateUrl={p.gateUrl}
            onDone={close}
            onCopied={() => {
              setCopied(m.created.id);
            }}
          />
        </Dialog>
      )}
    </>
  );
}
