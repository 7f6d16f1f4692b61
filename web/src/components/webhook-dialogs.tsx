// An endpoint's actions, shared by the Webhooks page and an endpoint's own page: the
// dialogs (create, edit, rotate the secret with an overlap, delete after asking, the
// secret shown once) and the direct actions (send a test event, enable or disable).
// `useWebhookActions` holds the state; the page renders `dialogs` and `notice`.
import { useId, useState, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { useUnsavedGuard } from "../lib/auth";
import {
  useCreateWebhook,
  useDeleteWebhook,
  useEventTypes,
  useRotateWebhookSecret,
  useTestWebhook,
  useUpdateWebhook,
} from "../lib/queries/webhooks";
import type { WebhookEndpoint, WebhookSecret } from "../lib/schemas";
import { emptyWebhookForm, overlapOptions, webhookBodyOf, webhookFormOf, webhookPatchOf } from "../lib/webhooks";
import { Dialog } from "./dialog";
import { messageOf } from "./state";
import { WebhookForm } from "./webhook-form";
import { OneTimeSecret, uncopiedSecretGuard } from "./webhook-secret";

export type WebhookModal =
  | { kind: "none" }
  | { kind: "create" }
  | { kind: "edit"; endpoint: WebhookEndpoint }
  | { kind: "rotate"; endpoint: WebhookEndpoint }
  | { kind: "delete"; endpoint: WebhookEndpoint }
  | { kind: "secret"; shown: WebhookSecret; rotated?: { oldUntil: string | null } };

/** What a direct action said: announced, and shown until the next one. */
export interface ActionNotice {
  kind: "ok" | "error";
  text: string;
  /** The endpoint whose deliveries to look at (after a test event). */
  deliveriesOf?: string;
}

export const webhookHref = (id: string) => `/admin/webhooks/${encodeURIComponent(id)}`;

export function useWebhookActions({ onDeleted, linkDeliveries = true }: { onDeleted?: () => void; linkDeliveries?: boolean } = {}) {
  const create = useCreateWebhook();
  const update = useUpdateWebhook();
  const rotate = useRotateWebhookSecret();
  const remove = useDeleteWebhook();
  const tester = useTestWebhook();
  const toggler = useUpdateWebhook();
  const [modal, setModal] = useState<WebhookModal>({ kind: "none" });
  const [notice, setNotice] = useState<ActionNotice | null>(null);
  const types = useEventTypes(modal.kind === "create" || modal.kind === "edit");

  const open = (m: WebhookModal) => {
    for (const x of [create, update, rotate, remove]) x.reset();
    setModal(m);
  };
  const close = () => {
    setModal({ kind: "none" });
  };

  const test = (e: WebhookEndpoint) => {
    setNotice(null);
    tester.mutate(e.id, {
      onSuccess: () => {
        setNotice({ kind: "ok", text: `Test event sent to ${e.url}.`, ...(linkDeliveries ? { deliveriesOf: e.id } : {}) });
      },
      onError: (err) => {
        setNotice({ kind: "error", text: `The test event was not sent: ${messageOf(err)}` });
      },
    });
  };
  const toggle = (e: WebhookEndpoint) => {
    setNotice(null);
    toggler.mutate(
      { id: e.id, body: { disabled: !e.disabled } },
      {
        onSuccess: () => {
          setNotice({ kind: "ok", text: e.disabled ? `${e.url} is enabled again.` : `${e.url} is disabled: nothing is sent to it.` });
        },
        onError: (err) => {
          setNotice({ kind: "error", text: `${e.disabled ? "Enabling" : "Disabling"} failed: ${messageOf(err)}` });
        },
      },
    );
  };

  const dialogs = (
    <WebhookDialogs
      modal={modal}
      types={types.data?.types}
      typesError={types.isError ? types.error : null}
      busy={[create, update, rotate, remove].some((x) => x.isPending)}
      error={[create, update, rotate, remove].find((x) => x.error)?.error ?? null}
      onClose={close}
      onCreate={(v) => {
        create.mutate(webhookBodyOf(v), {
          onSuccess: (shown) => {
            setModal({ kind: "secret", shown });
          },
        });
      }}
      onUpdate={(endpoint, v) => {
        const body = webhookPatchOf(v, endpoint);
        if (Object.keys(body).length === 0) {
          close();
          return;
        }
        update.mutate(
          { id: endpoint.id, body },
          {
            onSuccess: (saved) => {
              setNotice({ kind: "ok", text: `${saved.url} saved.` });
              close();
            },
          },
        );
      }}
      onRotate={(endpoint, overlapSecs) => {
        const at = Date.now();
        rotate.mutate(
          { id: endpoint.id, overlapSecs },
          {
            onSuccess: (shown) => {
              const oldUntil = overlapSecs > 0 ? new Date(at + overlapSecs * 1000).toISOString() : null;
              setModal({ kind: "secret", shown, rotated: { oldUntil } });
            },
          },
        );
      }}
      onDelete={(endpoint) => {
        remove.mutate(endpoint.id, {
          onSuccess: () => {
            setNotice({ kind: "ok", text: `${endpoint.url} deleted: nothing more is sent to it.` });
            close();
            onDeleted?.();
          },
        });
      }}
    />
  );

  return {
    open,
    test,
    toggle,
    testing: tester.isPending ? tester.variables : null,
    toggling: toggler.isPending ? toggler.variables.id : null,
    dialogs,
    notice: <ActionNoticeView notice={notice} />,
  };
}

function ActionNoticeView({ notice }: { notice: ActionNotice | null }) {
  // The live region stays in the page, so that what is put in it is announced.
  return (
    <div className="webhook-notice" role="status" aria-live="polite">
      {notice && (
        <p className={notice.kind === "error" ? "notice notice-error" : "notice notice-ok"}>
          {notice.text}
          {notice.deliveriesOf && (
            <>
              {" "}
              <Link to={webhookHref(notice.deliveriesOf)}>See its deliveries</Link>.
            </>
          )}
        </p>
      )}
    </div>
  );
}

export interface WebhookDialogsProps {
  modal: WebhookModal;
  types: Parameters<typeof WebhookForm>[0]["types"];
  typesError: unknown;
  busy: boolean;
  error: Error | null;
  onClose: () => void;
  onCreate: (v: typeof emptyWebhookForm) => void;
  onUpdate: (e: WebhookEndpoint, v: typeof emptyWebhookForm) => void;
  onRotate: (e: WebhookEndpoint, overlapSecs: number) => void;
  onDelete: (e: WebhookEndpoint) => void;
}

export function WebhookDialogs(p: WebhookDialogsProps) {
  const m = p.modal;
  // Which secret was copied: until then, closing it asks, and an ending session keeps it.
  const [copied, setCopied] = useState<string | null>(null);
  const unsaved = m.kind === "secret" && copied !== m.shown.secret;
  useUnsavedGuard(unsaved);
  return (
    <>
      {m.kind === "create" && (
        <Dialog title="New webhook endpoint" onClose={p.onClose} wide>
          <WebhookForm
            mode="create"
            initial={emptyWebhookForm}
            types={p.types}
            typesError={p.typesError}
            submitting={p.busy}
            serverError={p.error}
            onSubmit={p.onCreate}
            onCancel={p.onClose}
          />
        </Dialog>
      )}
      {m.kind === "edit" && (
        <Dialog title="Edit webhook endpoint" onClose={p.onClose} wide>
          <WebhookForm
            mode="edit"
            initial={webhookFormOf(m.endpoint)}
            types={p.types}
            typesError={p.typesError}
            submitting={p.busy}
            serverError={p.error}
            onSubmit={(v) => {
              p.onUpdate(m.endpoint, v);
            }}
            onCancel={p.onClose}
          />
        </Dialog>
      )}
      {m.kind === "rotate" && (
        <Dialog title="Rotate the signing secret" onClose={p.onClose}>
          <RotateSecretForm
            endpoint={m.endpoint}
            busy={p.busy}
            error={p.error}
            onRotate={(overlap) => {
              p.onRotate(m.endpoint, overlap);
            }}
            onCancel={p.onClose}
          />
        </Dialog>
      )}
      {m.kind === "delete" && (
        <Dialog title="Delete this webhook endpoint?" onClose={p.onClose}>
          <Confirm
            busy={p.busy}
            error={p.error}
            confirm="Delete endpoint"
            onConfirm={() => {
              p.onDelete(m.endpoint);
            }}
            onCancel={p.onClose}
          >
            <p>
              Nothing more is sent to <span className="endpoint-url-inline">{m.endpoint.url}</span>, and its deliveries
              are no longer listed here. To stop for a while, disable it instead.
            </p>
          </Confirm>
        </Dialog>
      )}
      {m.kind === "secret" && (
        <Dialog
          title={m.rotated ? "The new signing secret" : "The endpoint’s signing secret"}
          onClose={p.onClose}
          wide
          guard={unsaved ? uncopiedSecretGuard : null}
        >
          <OneTimeSecret
            shown={m.shown}
            {...(m.rotated ? { rotated: m.rotated } : {})}
            onDone={p.onClose}
            onCopied={() => {
              setCopied(m.shown.secret);
            }}
          />
        </Dialog>
      )}
    </>
  );
}

/** How long the old secret keeps signing beside the new one. */
export function RotateSecretForm({
  endpoint,
  busy,
  error,
  onRotate,
  onCancel,
}: {
  endpoint: WebhookEndpoint;
  busy: boolean;
  error: Error | null;
  onRotate: (overlapSecs: number) => void;
  onCancel: () => void;
}) {
  const [overlap, setOverlap] = useState(86_400);
  const id = useId();
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        onRotate(overlap);
      }}
    >
      {error && (
        <p className="notice notice-error" role="alert">
          {messageOf(error)}
        </p>
      )}
      <p>
        A new secret signs every delivery to <span className="endpoint-url-inline">{endpoint.url}</span> from now on
        (now: <code>{endpoint.secret_hint}</code>). You will see the new one once.
      </p>
      {endpoint.signing_secrets > 1 && (
        <p className="notice notice-warn">
          An earlier rotation’s overlap is still running: the oldest secret stops signing now at the latest.
        </p>
      )}
      <fieldset className="choice overlap-choice">
        <legend>The current secret keeps signing beside the new one for</legend>
        {overlapOptions.map((o) => (
          <div className="radio" key={o.seconds}>
            <input
              id={`${id}-${o.seconds}`}
              type="radio"
              name={`${id}-overlap`}
              checked={overlap === o.seconds}
              {...(o.seconds === 86_400 ? { "data-autofocus": "" } : {})}
              onChange={() => {
                setOverlap(o.seconds);
              }}
            />
            <label htmlFor={`${id}-${o.seconds}`}>{o.label}</label>
          </div>
        ))}
      </fieldset>
      <p className="hint">Meanwhile each delivery carries both signatures, so the receiver can switch without missing one.</p>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? "Rotating…" : "Rotate secret"}
        </button>
      </div>
    </form>
  );
}

function Confirm({
  busy,
  error,
  confirm,
  onConfirm,
  onCancel,
  children,
}: {
  busy: boolean;
  error: Error | null;
  confirm: string;
  onConfirm: () => void;
  onCancel: () => void;
  children: ReactNode;
}) {
  return (
    <div>
      {error && (
        <p className="notice notice-error" role="alert">
          {messageOf(error)}
        </p>
      )}
      {children}
      <div className="actions">
        <button type="button" className="button" data-autofocus="" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="button button-danger" disabled={busy} onClick={onConfirm}>
          {busy ? "Deleting…" : confirm}
        </button>
      </div>
    </div>
  );
}
