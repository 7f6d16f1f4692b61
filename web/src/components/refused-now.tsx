// "Refused": the gate turns every request with this key away right now (disabled,
// expired, its own or its owner's credits used up). Said in words, not by colour alone:
// a key whose status is "active" can still be refused, by its owner's shared credits.
import type { RefusedNow } from "../lib/schemas";
import "./key-list.css";

/**
 * Whether a refusal needs saying beside the status: a disabled or expired key's status
 * already says it; a key refused for want of credits reads "active" and must not look
 * fine.
 */
export function shownRefusal(refused: RefusedNow | null | undefined): refused is RefusedNow {
  return !!refused && refused.code === "usage_exceeded";
}

/** The badge and the reason, for a row of the key list (table and phone cards). */
export function RefusedBadge({ refused }: { refused: RefusedNow }) {
  return (
    <span className="refused" title={refused.reason}>
      <span className="badge badge-refused">Refused</span>{" "}
      <span className="refused-reason">— {refused.reason}</span>
    </span>
  );
}

/** What to do about it, in a few words. */
export function refusedAdvice(refused: RefusedNow, admin: boolean): string {
  if (refused.code === "usage_exceeded") {
    if (refused.scope === "owner")
      return admin
        ? "Every key of this owner is refused until their shared credits are raised or refilled."
        : "Every key of yours is refused until an administrator raises your shared credits, or they refill.";
    return admin ? "Add credits to the key, or wait for its refill." : "Ask an administrator for credits, or wait for the refill.";
  }
  return "";
}

/** The key page's notice, next to its status. */
export function RefusedNotice({ refused, admin }: { refused: RefusedNow; admin: boolean }) {
  const advice = refusedAdvice(refused, admin);
  return (
    <div className="notice notice-warn refused-notice" data-testid="refused-now">
      <p>
        <strong>Refused now</strong> — {refused.reason}. The gate turns every request with this key away.
      </p>
      {advice && <p>{advice}</p>}
    </div>
  );
}
