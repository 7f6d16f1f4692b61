// The new key, shown once: copy it, paste a ready snippet, then it is gone for good.
// The check snippet asks the gate about a request the key's first rule allows (its
// method, host and path), so that it really answers 204. The snippets aim at the host
// the key's rules name; a key for any host gets an obvious blank (YOUR-API-HOST, said
// under the snippets), never keygate's own address: the service is elsewhere. (The UI's
// configuration names no public address of the service to use instead.)
import { PLACEHOLDER_HOST, checkCurl, checkRequest, serviceCurl } from "../lib/check-request";
import { absolute } from "../lib/format";
import type { Created } from "../lib/schemas";
import { CopyButton } from "./copy-button";

export function OneTimeKey({
  created,
  gateUrl,
  onDone,
  onCopied,
}: {
  created: Created;
  gateUrl: string;
  onDone: () => void;
  /** The key was copied (its button, or copying from the field). */
  onCopied?: () => void;
}) {
  const { key, token } = created;
  const header = `Authorization: Bearer ${key}`;
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
          onCopy={onCopied}
          data-testid="new-key"
          data-autofocus=""
        />
        <CopyButton text={key} label="Copy key" {...(onCopied ? { onCopied } : {})} />
      </div>
      <p className="muted">
        {token.expires_at ? (
          <>
            It expires on <time dateTime={token.expires_at}>{absolute(token.expires_at)}</time>.
          </>
        ) : (
          "It never expires."
        )}
      </p>
      {created.replaced && (
        <p className="muted">
          The old key {created.replaced.hint} keeps working until{" "}
          {created.replaced.grace_until ? (
            <time dateTime={created.replaced.grace_until}>{absolute(created.replaced.grace_until)}</time>
          ) : (
            "it is revoked"
          )}
          .
        </p>
      )}
      <h3>Use it</h3>
      <Snippet title="The header to send" text={header} />
      <Snippet title="With curl" text={serviceCurl(key, token.rules)} testId="service-snippet" />
      <Snippet title="Check it against keygate (expect 204)" text={checkCurl(gateUrl, key, token.rules)} testId="check-snippet" />
      {checkRequest(token.rules).host === PLACEHOLDER_HOST && (
        <p className="hint" data-testid="host-blank">
          The key works for any host: put your API’s host in place of <code>{PLACEHOLDER_HOST}</code>.
        </p>
      )}
      <div className="actions">
        <button type="button" className="button button-primary" onClick={onDone}>
          I have saved the key
        </button>
      </div>
    </div>
  );
}

function Snippet({ title, text, testId }: { title: string; text: string; testId?: string }) {
  return (
    <figure className="snippet">
      <figcaption>
        {title} <CopyButton text={text} />
      </figcaption>
      <pre>
        <code data-testid={testId}>{text}</code>
      </pre>
    </figure>
  );
}
