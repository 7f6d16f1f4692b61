// Data on screen whose last refresh failed: it stays, under a banner that says so,
// since when it is, and offers to try again (never a wiped screen). When the refresh
// could not reach keygate at all, the layout's one banner says it for the whole page
// (ConnectionBanner), and this one keeps quiet.
import { useContext, useState } from "react";
import { absolute, relative } from "../lib/format";
import { ConnectionBannerShown, isUnreachable } from "../lib/queries/connection";
import { messageOf } from "./state";
import "./trust.css";

export function StaleBanner({
  what,
  error,
  updatedAt,
  onRetry,
  now: nowProp,
}: {
  /** "the key", "the audit log", "your keys". */
  what: string;
  error: unknown;
  /** When the data on screen was read (TanStack Query's dataUpdatedAt), in ms. */
  updatedAt: number;
  onRetry: () => void;
  now?: number;
}) {
  const [shown] = useState(() => Date.now());
  const saidAbove = useContext(ConnectionBannerShown) && isUnreachable(error);
  if (saidAbove) return null;
  const now = nowProp ?? shown;
  const at = new Date(updatedAt).toISOString();
  return (
    <div className="notice notice-warn stale-banner" role="status">
      <p>
        <strong>Could not refresh {what}:</strong> {messageOf(error)} This is what keygate said{" "}
        {relative(at, now)} (<time dateTime={at}>{absolute(at, { seconds: true })}</time>).
      </p>
      <button type="button" className="button button-small" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}

/** A query whose data is on screen while its last refresh failed. */
export function isStale(q: { data: unknown; isError: boolean }): boolean {
  return q.isError && q.data !== undefined;
}
