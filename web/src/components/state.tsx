// Loading and error states, the same everywhere.
import { ApiError } from "../lib/api";

export function Loading({ what }: { what: string }) {
  return (
    <p className="page-status" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return "This needs an administrator.";
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div className="notice notice-error" role="alert">
      <p>{messageOf(error)}</p>
      {onRetry && (
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
