// Whether keygate can be reached, as the queries on screen find it: one watcher of the
// query cache, so that no page has to say it (and none can forget to). keygate is
// "down" while some query on screen holds data whose last refresh could not reach it
// (no answer, or a proxy's 502/503/504); it is up again once each of them has been read
// again, which the watcher asks for now and then.
import { type Query, type QueryClient, useQueryClient } from "@tanstack/react-query";
import { createContext, useEffect, useState } from "react";
import { ApiError } from "../api";

/** While keygate is down, what is on screen is asked for again this often. */
export const RECHECK_MS = 15_000;

/**
 * Whether an error means that keygate did not answer: the fetch failed (status 0), or
 * something in front of it said it could not reach it (502, 504; a 503 only when its
 * body is not keygate's own JSON error: keygate says 503 itself when its store is out,
 * and then it is reachable, only unwell).
 */
export function isUnreachable(e: unknown): boolean {
  if (!(e instanceof ApiError)) return false;
  if (e.status === 0 || e.status === 502 || e.status === 504) return true;
  return e.status === 503 && e.code === "http";
}

/**
 * True inside the layout, which shows the one "Cannot reach keygate" banner: a page's
 * own notice about a refresh that could not reach keygate then says nothing more.
 */
export const ConnectionBannerShown = createContext(false);

export interface Connection {
  /** Something loaded before is on screen, and its refresh could not reach keygate. */
  down: boolean;
  /**
   * When what is on screen was loaded (ms): the oldest last success among the queries
   * on screen that could not be refreshed. Null when down is false.
   */
  loadedAt: number | null;
}

/** On screen, loaded, and its last refresh found keygate unreachable. */
const cutOff = (q: Query) =>
  q.getObserversCount() > 0 && q.state.data !== undefined && q.state.status === "error" && isUnreachable(q.state.error);

export function connectionOf(qc: QueryClient): Connection {
  const times = qc
    .getQueryCache()
    .getAll()
    .filter(cutOff)
    .map((q) => q.state.dataUpdatedAt);
  return times.length === 0 ? { down: false, loadedAt: null } : { down: true, loadedAt: Math.min(...times) };
}

/** Whether keygate answers, how old what is on screen is when it does not, and asking again. */
export function useConnection(): Connection & { retry: () => void } {
  const qc = useQueryClient();
  const [state, setState] = useState<Connection>(() => connectionOf(qc));

  useEffect(() => {
    const update = () => {
      const next = connectionOf(qc);
      setState((s) => (s.down === next.down && s.loadedAt === next.loadedAt ? s : next));
    };
    return qc.getQueryCache().subscribe(update);
  }, [qc]);

  const retry = () => {
    void qc.refetchQueries({ type: "active" });
  };

  // While down, what is on screen is asked for again now and then (not every query
  // refreshes by itself), so the banner goes by itself once keygate is back.
  useEffect(() => {
    if (!state.down) return;
    const t = setInterval(() => {
      void qc.refetchQueries({ type: "active" });
    }, RECHECK_MS);
    return () => {
      clearInterval(t);
    };
  }, [state.down, qc]);

  return { ...state, retry };
}
