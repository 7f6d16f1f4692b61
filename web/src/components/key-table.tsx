// Keys as a table (cards on a narrow screen): filter, status, "unused for" and sort
// controls, one page of rows, the pager, and, when selection is offered, a checkbox per
// row with a toolbar for the selected keys. Pure: the list's state comes in as props
// (the page keeps it in the URL) and every change goes out as a new state.
//
// Dense: a row is two short lines (key-row.tsx), the actions one menu, the columns
// fixed in width so a 1280 px screen shows them all; below that the table scrolls
// sideways with the name column (and the checkboxes) held at the left (key-list.css).
//
// Selecting: "Select all shown" takes this page's rows; then "Select all N matching"
// takes every key the filter matches, on every page of the list, and, when the server
// has more pages than the list holds (`more`), fetches those first.
import { Fragment, type ReactNode, useEffect, useMemo, useRef, useState } from "react";
import {
  type BulkAction,
  type ListState,
  type SortKey,
  ROWS_PER_PAGE,
  SORTS,
  UNUSED_CHOICES,
  filterSort,
  pageOf,
  rotationOf,
  sortValue,
} from "../lib/key-list-model";
import { groupDigits } from "../lib/format";
import type { Token, TokenStatus } from "../lib/schemas";
import { KeyRow, type KeyRowActions } from "./key-row";
import { Pager } from "./pager";
import "./key-list.css";

export interface KeyTableProps {
  tokens: Token[];
  now: number;
  state: ListState;
  onState: (s: ListState) => void;
  onEdit: (t: Token) => void;
  onRotate: (t: Token) => void;
  onRevoke: (t: Token) => void;
  /** Disable or enable one key (its menu offers it when given). */
  onSetDisabled?: (t: Token, disabled: boolean) => void;
  /** Where each key's own page is: its name links there. */
  keyHref?: (t: Token) => string;
  /** A key's recent usage, shown in its own column when given. */
  activity?: (t: Token) => ReactNode;
  /** A key's owner, in its own column after the name when given (everyone's keys). */
  owner?: (t: Token) => ReactNode;
  /** Rows per page (fewer on a phone). */
  pageSize?: number;
  /** Ids of the selected keys; with `onSelect`, rows get checkboxes. */
  selected?: ReadonlySet<string>;
  onSelect?: (ids: string[], on: boolean) => void;
  /** The toolbar's buttons: do `action` to the selected keys (after a confirmation). */
  onBulk?: (action: BulkAction) => void;
  /**
   * The filter text is a search the server runs (`q`): `tokens` are what it found, so
   * they are not filtered by the text again here.
   */
  search?: ServerSearch;
  /** The server has more of the list's keys than `tokens` holds. */
  more?: MoreKeys;
}

export interface MoreKeys {
  /** How many keys the list's query finds over all its pages, when the server counts. */
  total?: number | undefined;
  /** Fetches the keys of the pages not held yet (the page keeps them for the bulk change). */
  fetchRest: () => Promise<Token[]>;
}

export interface ServerSearch {
  /** One line of syntax help, under the box. */
  help: string;
  /** The server's refusal of the text (a 400 about `q`). */
  error?: string | undefined;
  /** A search for newer text is on its way. */
  pending?: boolean;
}

/** The sortable columns; `col` sets each one's width (key-list.css). */
const columns: { key: SortKey; label: string; col: string }[] = [
  { key: "name", label: "Name", col: "col-name" },
  { key: "created_at", label: "Created", col: "col-created" },
  { key: "expires_at", label: "Expires", col: "col-expires" },
  { key: "last_used_at", label: "Last used", col: "col-used" },
];

/** At least this many days unused earns a row the "unused" badge, without a filter set. */
export const STALE_BADGE_DAYS = 30;

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

export function KeyTable({
  tokens,
  now,
  state,
  onState,
  onEdit,
  onRotate,
  onRevoke,
  onSetDisabled,
  keyHref,
  activity,
  owner,
  pageSize = ROWS_PER_PAGE,
  selected,
  onSelect,
  onBulk,
  search,
  more,
}: KeyTableProps) {
  const top = useRef<HTMLDivElement>(null);
  const onServer = search !== undefined;
  const shown = useMemo(
    () => filterSort(tokens, onServer ? { ...state, q: "" } : state, now),
    [tokens, state, now, onServer],
  );
  const searched = onServer && state.q.trim() !== "";
  const byId = useMemo(() => new Map(tokens.map((t) => [t.id, t])), [tokens]);
  const paged = pageOf(shown, state.page, pageSize);
  // The filter box keeps its own text: the URL catches up a moment later, and a
  // controlled input fed from it alone would drop keystrokes typed meanwhile.
  const [draft, setDraft] = useState(state.q);
  const [lastQ, setLastQ] = useState(state.q);
  if (state.q !== lastQ) {
    setLastQ(state.q);
    if (state.q !== draft) setDraft(state.q);
  }

  const set = (change: Partial<ListState>) => {
    onState({ ...state, page: 1, ...change });
  };
  const toPage = (page: number) => {
    onState({ ...state, page });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom (the tests) has none
    top.current?.scrollIntoView?.({ block: "start" });
  };
  const sortBy = (key: SortKey) => {
    set({ sort: key, desc: state.sort === key ? !state.desc : key !== "name" });
  };
  const ariaSort = (key: SortKey) =>
    state.sort === key ? (state.desc ? ("descending" as const) : ("ascending" as const)) : undefined;

  const selectable = selected !== undefined && onSelect !== undefined;
  // When the toolbar goes (the selection was cleared, or a bulk change is done and its
  // dialog closed), focus would fall to the page's start: it goes to "Select all shown".
  const selectAll = useRef<HTMLInputElement>(null);
  const hadSelection = useRef(false);
  const hasSelection = selectable && selected.size > 0;
  useEffect(() => {
    const lost = document.activeElement === null || document.activeElement === document.body;
    if (hadSelection.current && !hasSelection && lost) selectAll.current?.focus();
    hadSelection.current = hasSelection;
  }, [hasSelection]);
  const pageIds = paged.rows.map((t) => t.id);
  const pageSelected = selectable ? pageIds.filter((id) => selected.has(id)).length : 0;
  const badgeDays = state.unused ?? STALE_BADGE_DAYS;
  const actions: KeyRowActions = { onEdit, onRotate, onRevoke, onSetDisabled };

  // "Select all N matching". The server's `total` counts what its query finds; a filter
  // applied here on top (status, "unused for", or the text where the server is not
  // asked) is only counted once the keys are here.
  const filteredHere = state.status !== "all" || state.unused !== null || (!onServer && state.q.trim() !== "");
  const matching = more ? (filteredHere ? undefined : more.total) : shown.length;
  const allMatchingSelected = selectable && !more && shown.every((t) => selected.has(t.id));
  const offerAll =
    selectable &&
    onBulk !== undefined &&
    pageIds.length > 0 &&
    pageSelected === pageIds.length &&
    (more !== undefined || shown.length > pageIds.length);
  const [gathering, setGathering] = useState(false);
  const [gatherError, setGatherError] = useState<string | null>(null);
  const selectMatching = async () => {
    if (!selectable) return;
    if (!more) {
      onSelect(
        shown.map((t) => t.id),
        true,
      );
      return;
    }
    setGathering(true);
    setGatherError(null);
    try {
      const all = [...tokens, ...(await more.fetchRest())];
      const ids = filterSort(all, onServer ? { ...state, q: "" } : state, now).map((t) => t.id);
      onSelect([...new Set(ids)], true);
    } catch (e) {
      setGatherError(e instanceof Error ? e.message : String(e));
    } finally {
      setGathering(false);
    }
  };

  return (
    <div className="key-table" ref={top}>
      <div className="filters">
        <div className="field">
          <label htmlFor="key-filter">Filter</label>
          <input
            id="key-filter"
            type="search"
            value={draft}
            placeholder={onServer ? "Search these keys" : "Name, hint, id, rule or metadata"}
            {...(onServer
              ? {
                  "aria-invalid": Boolean(search.error),
                  "aria-describedby": search.error ? "key-filter-err key-filter-help" : "key-filter-help",
                }
              : {})}
            onChange={(e) => {
              setDraft(e.target.value);
              set({ q: e.target.value });
            }}
          />
        </div>
        <div className="field">
          <label htmlFor="key-status">Status</label>
          <select
            id="key-status"
            value={state.status}
            onChange={(e) => {
              set({ status: e.target.value as TokenStatus | "all" });
            }}
          >
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="disabled">Disabled</option>
            <option value="expired">Expired</option>
            <option value="rotating">Rotating</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="key-unused">Unused for</label>
          <select
            id="key-unused"
            value={state.unused === null ? "" : String(state.unused)}
            onChange={(e) => {
              set({ unused: e.target.value ? Number(e.target.value) : null });
            }}
          >
            <option value="">Any time</option>
            {/* A shared link may name a number of days not offered here. */}
            {[...new Set([...UNUSED_CHOICES, ...(state.unused === null ? [] : [state.unused])])]
              .sort((a, b) => a - b)
              .map((d) => (
                <option key={d} value={d}>
                  {d}+ days
                </option>
              ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="key-sort">Sort by</label>
          <select
            id="key-sort"
            value={sortValue(state)}
            onChange={(e) => {
              const [key, dir] = e.target.value.split(":");
              set({ sort: key as SortKey, desc: dir === "desc" });
            }}
          >
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {search && (
        <>
          <p className="hint search-help" id="key-filter-help">
            {search.help}
          </p>
          {search.error && (
            <p className="field-error search-error" id="key-filter-err" role="alert">
              {search.error}
            </p>
          )}
        </>
      )}
      <div className="list-bar">
        <p className="muted list-count" role="status" aria-live="polite">
          {shown.length === tokens.length
            ? plural(tokens.length, "key")
            : `${shown.length} of ${plural(tokens.length, "key")}`}
          {searched && " found"}
          {paged.pages > 1 && `, ${paged.first}–${paged.last} shown`}
          {search?.pending && " (searching…)"}
        </p>
        {selectable && paged.rows.length > 0 && (
          <label className="select-all">
            <input
              type="checkbox"
              checked={pageSelected === pageIds.length}
              ref={(el) => {
                selectAll.current = el;
                if (el) el.indeterminate = pageSelected > 0 && pageSelected < pageIds.length;
              }}
              onChange={(e) => {
                onSelect(pageIds, e.target.checked);
              }}
            />{" "}
            Select all shown
          </label>
        )}
        {offerAll && !allMatchingSelected && (
          <button
            type="button"
            className="button button-small select-matching"
            disabled={gathering}
            onClick={() => {
              void selectMatching();
            }}
          >
            {matching === undefined ? "Select all matching keys" : `Select all ${groupDigits(matching)} matching`}
          </button>
        )}
        {offerAll && allMatchingSelected && (
          <span className="muted select-matching-done">All {plural(shown.length, "matching key")} are selected.</span>
        )}
        {gathering && (
          <span className="muted" role="status">
            <span className="spinner" aria-hidden="true" /> Finding every matching key…
          </span>
        )}
        {gatherError && (
          <span className="field-error" role="alert">
            Could not fetch every matching key: {gatherError}
          </span>
        )}
        {selectable && onBulk && selected.size > 0 && (
          <div className="bulk-bar" role="group" aria-label="Selected keys">
            <span className="bulk-count">{selected.size} selected</span>
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                onBulk("disable");
              }}
            >
              Disable selected
            </button>
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                onBulk("enable");
              }}
            >
              Enable selected
            </button>
            <button
              type="button"
              className="button button-small button-danger"
              onClick={() => {
                onBulk("revoke");
              }}
            >
              Revoke selected
            </button>
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                onSelect([...selected], false);
              }}
            >
              Clear selection
            </button>
          </div>
        )}
      </div>
      {paged.rows.length > 0 ? (
        <div className="table-wrap">
          <table className={selectable ? "keys dense selectable" : "keys dense"}>
            <thead>
              <tr>
                {selectable && (
                  <th scope="col" className="select-cell">
                    <span className="visually-hidden">Selected</span>
                  </th>
                )}
                {columns.map((c) => (
                  <Fragment key={c.key}>
                    <th scope="col" className={c.col} aria-sort={ariaSort(c.key)}>
                      <button
                        type="button"
                        className="sort"
                        onClick={() => {
                          sortBy(c.key);
                        }}
                      >
                        {c.label}
                        <span aria-hidden="true">{state.sort === c.key ? (state.desc ? " ↓" : " ↑") : ""}</span>
                      </button>
                    </th>
                    {c.key === "name" && owner && (
                      <th scope="col" className="col-owner">
                        Owner
                      </th>
                    )}
                  </Fragment>
                ))}
                {activity && (
                  <th scope="col" className="col-activity">
                    Last 24 h
                  </th>
                )}
                <th scope="col" className="col-rules">
                  Rules
                </th>
                <th scope="col" className="col-limits">
                  Limits
                </th>
                <th scope="col" className="col-status" aria-sort={ariaSort("status")}>
                  <button
                    type="button"
                    className="sort"
                    onClick={() => {
                      sortBy("status");
                    }}
                  >
                    Status
                  </button>
                </th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {paged.rows.map((t) => (
                <KeyRow
                  key={t.id}
                  t={t}
                  now={now}
                  rotation={rotationOf(t, byId)}
                  badgeDays={badgeDays}
                  keyHref={keyHref}
                  activity={activity}
                  owner={owner}
                  selected={selectable ? selected.has(t.id) : undefined}
                  onSelect={onSelect}
                  actions={actions}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        (tokens.length > 0 || searched) && (
          <div className="empty">
            <p>No key matches.</p>
            <button
              type="button"
              className="button"
              onClick={() => {
                setDraft("");
                set({ q: "", status: "all", unused: null });
              }}
            >
              Show all keys
            </button>
          </div>
        )
      )}
      <Pager page={paged.page} pages={paged.pages} onPage={toPage} label="Pages of keys" />
    </div>
  );
}
