// A query's states, the same everywhere: its error (with "Try again"), "Loading …",
// what to say when it found nothing, or its data.
import type { ReactNode } from "react";
import { isUnreachable } from "../lib/queries/connection";
import { ErrorNote, Loading } from "./state";

export interface QueryViewProps<T> {
  /** "Loading {what}…". */
  what: string;
  data: T | undefined;
  pending?: boolean;
  /** Shown instead of anything else when set. */
  error: unknown;
  onRetry?: () => void;
  /** Shown instead of the data when it is an empty list. */
  empty?: ReactNode;
  children: (data: T) => ReactNode;
}

export function QueryView<T>({ what, data, pending = false, error, onRetry, empty, children }: QueryViewProps<T>) {
  if (error) return <ErrorNote error={error} onRetry={onRetry} />;
  if (pending || data === undefined) return <Loading what={what} />;
  if (empty !== undefined && Array.isArray(data) && data.length === 0) return <>{empty}</>;
  return <>{children(data)}</>;
}

/** The part of a TanStack query QueryView shows. */
interface QueryLike<T> {
  data: T | undefined;
  isPending: boolean;
  isError: boolean;
  error: unknown;
  refetch: () => Promise<unknown>;
}

/**
 * A TanStack query's state for QueryView: `<QueryView what="usage" {...fromQuery(usage)}>`.
 * What was loaded stays when a refresh could not reach keygate: the layout's banner
 * says so once for the whole page, with how old it is (ConnectionBanner).
 */
export function fromQuery<T>(q: QueryLike<T>): Pick<QueryViewProps<T>, "data" | "pending" | "error" | "onRetry"> {
  const kept = q.data !== undefined && isUnreachable(q.error);
  return {
    data: q.data,
    pending: q.isPending,
    error: q.isError && !kept ? q.error : null,
    onRetry: () => {
      void q.refetch();
    },
  };
}
