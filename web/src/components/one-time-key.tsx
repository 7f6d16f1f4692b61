// The new key, shown once: copy it, paste a ready snippet, then it is gone for good.
import type { Created } from "../lib/schemas";
import { CopyButton } from "./copy-button";

export function OneTimeKey({ created, gateUrl, onDone }: { created: Created; gateUrl: string; onDone: () => void }) {
  const { key, token } = created;
  const header = `Authorization: Bearer ${key}`;
  const curl = `curl -H "Authorization: Bearer ${key}" https://your-service.example.com/`;
  const check = `curl -i -H "Authorization: Bearer ${key}" ${gateUrl}`;
  return (
    <div className="one-time-key">
      <p className="notice notice-warn">
        <strong>Copy this key now: you will not see it again.</strong> keygate keeps only a hash of it. If you lose
        it, rotate or revoke the key and make a new one.
      </p>
      <label htmlFor="new-key">
        Key “{token.name}” <span className="muted">({created.hint})</span>
      </label>
      <div className="key-row">
        <input
          id="new-key"
          className="key-value"
          readOnly
          value={key}
          spellCheck={false}
          onFocus={(e) => {
            e.currentTarget.select();
          }}
          data-testid="new-key"
          data-autofocus=""
        />
        <CopyButton text={key} label="Copy key" />
      </div>
      {created.replaced && (
        <p className="muted">
          The old key {created.replaced.hint} keeps working until{" "}
          {created.replaced.grace_until ? new Date(created.replaced.grace_until).toLocaleString() : "it is revoked"}.
        </p>
      )}
      <h3>Use it</h3>
      <Snippet title="The header to send" text={header} />
      <Snippet title="With curl" text={curl} />
      <Snippet title="Check it against keygate (expect 204)" text={check} />
      <div className="actions">
        <button type="button" className="button button-primary" onClick={onDone}>
          I have saved the key
        </button>
      </div>
    </div>
  );
}

function Snippet({ title, text }: { title: string; text: string }) {
  return (
    <figure className="snippet">
      <figcaption>
        {title} <CopyButton text={text} />
      </figcaption>
      <pre>
        <code>{text}</code>
      </pre>
    </figure>
  );
}
