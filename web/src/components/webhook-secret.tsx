// A webhook endpoint's signing secret, shown once (after creating the endpoint or
// rotating its secret): copy it into the receiver now, it cannot be shown again.
import { absolute } from "../lib/format";
import type { WebhookSecret } from "../lib/schemas";
import { CopyButton } from "./copy-button";

/** Asked before a secret that has not been copied is closed away. */
export const uncopiedSecretGuard = {
  message: "You have not copied the secret. Once this dialog is closed, nobody can show it again.",
  stay: "Back to the secret",
  leave: "Close without the secret",
};

export function OneTimeSecret({
  shown,
  rotated,
  onDone,
  onCopied,
}: {
  shown: WebhookSecret;
  /** After a rotation: until when the previous secret keeps signing (RFC 3339), or null if it stopped. */
  rotated?: { oldUntil: string | null };
  onDone: () => void;
  onCopied?: () => void;
}) {
  const { endpoint, secret } = shown;
  return (
    <div className="one-time-key one-time-secret">
      <p className="notice notice-warn">
        <strong>Copy this secret now: you will not see it again.</strong> Your receiver needs it to check the{" "}
        <code>webhook-signature</code> of every delivery (any Standard Webhooks library does). If you lose it, rotate
        the secret.
      </p>
      <label htmlFor="new-secret">
        Signing secret for <span className="endpoint-url-inline">{endpoint.url}</span>
      </label>
      <div className="key-row">
        <input
          id="new-secret"
          className="key-value"
          readOnly
          value={secret}
          spellCheck={false}
          onFocus={(e) => {
            e.currentTarget.select();
          }}
          onCopy={onCopied}
          data-testid="new-secret"
          data-autofocus=""
        />
        <CopyButton text={secret} label="Copy secret" {...(onCopied ? { onCopied } : {})} />
      </div>
      {rotated && (
        <p className="muted" data-testid="old-secret-until">
          {rotated.oldUntil ? (
            <>
              The previous secret keeps signing too until{" "}
              <time dateTime={rotated.oldUntil}>{absolute(rotated.oldUntil)}</time>: each delivery carries both
              signatures meanwhile, so the receiver can switch without missing one.
            </>
          ) : (
            "The previous secret no longer signs: deliveries carry only the new signature from now on."
          )}
        </p>
      )}
      <div className="actions">
        <button type="button" className="button button-primary" onClick={onDone}>
          I have saved the secret
        </button>
      </div>
    </div>
  );
}
