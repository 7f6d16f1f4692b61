// Data container for a page of keys: mine, or (admin) one owner's or everyone's. All of
// them are fetched (500 a request) and refreshed every 30 s and on focus; the list
// filters, sorts and pages them itself, with its state in the URL; bulk changes go out
// from here. On an admin's pages the filter text is a search the server runs (`q`, a
// moment after the last keystroke), and a search it cannot read is said under the box.
// Everyone's keys have an owner column, and "New key" asks first whose key it is.
import { useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { BulkDialogProps } from "../components/bulk-dialog";
import { KeyActivity } from "../components/key-activity";
import { type Modal, KeysView } from "../components/keys-view";
import { MyLimits, OwnerLimitsPanel } from "../components/owner-limits";
import { OwnerCell, OwnerPrompt } from "../components/owner-prompt";
import { OwnerRolesPanel } from "../components/owner-roles";
import { StaleBanner, isStale } from "../components/stale-banner";
import { ErrorNote, Loading } from "../components/state";
import { ApiError } from "../lib/api";
import { useAuth } from "../lib/auth";
import { createBody, patchBody } from "../lib/key-form-model";
import { type BulkAction, ROWS_PER_PAGE, listParams, parseListState, sortValue } from "../lib/key-list-model";
import { keyHref } from "../lib/links";
import { restOfPages, withExtra } from "../lib/matching";
import { type Token, tokenPageSchema } from "../lib/schemas";
import {
  LIST_PAGE_SIZE,
  useAllTokens,
  useBulkChange,
  useCreateToken,
  useRevokeToken,
  useRotateToken,
  useUpdateToken,
} from "../lib/queries/keys";
import { useGrantable } from "../lib/queries/grants";
import { useMe } from "../lib/queries/me";
import { type OwnerScope, type Scope, pagePath, scopePath } from "../lib/queries/scope";

/** Rows per page on a phone: a page is a few screens of cards, not twenty. */
const NARROW_ROWS = 20;

/** The search is sent this long after the last keystroke. */
export const SEARCH_DEBOUNCE_MS = 300;

/** The server's search syntax, in one line (under the box). */
export const SEARCH_HELP =
  'Words (all must match), name:, owner:, status:disabled, unused:30d, refused:yes, team=payments, -word, "two words"';

interface BulkRun {
  action: BulkAction;
  /** As they were when the dialog opened: a key deleted meanwhile is still named, with why it failed. */
  tokens: Token[];
  failures: Map<string, string>;
  succeeded: number;
}

export function KeysPage({ scope, title, intro }: { scope: Scope; title: string; intro?: string }) {
  const { config, api } = useAuth();
  const [params, setParams] = useSearchParams();
  const list = parseListState(params);
  // An admin's lists search on the server; "My keys" filters what it has.
  const onServer = scope.kind !== "me";
  const everyone = scope.kind === "all";
  const typed = onServer ? list.q.trim() : "";
  const debounced = useDebounced(typed, SEARCH_DEBOUNCE_MS);
  // Everyone's keys are filtered and sorted by the server (the page holds the first
  // 500 in that order, more on request): the status and "unused for" choices join the
  // search as the terms the server knows.
  const search = everyone
    ? [
        debounced,
        list.status === "all" ? "" : `status:${list.status}`,
        list.unused === null ? "" : `unused:${String(list.unused)}d`,
      ]
        .filter(Boolean)
        .join(" ")
    : debounced;
  const tokens = useAllTokens(scope, search, everyone ? { sort: sortValue(list), everyPage: false } : {});
  // The last list the server gave: kept on screen while a search it refused is fixed.
  const live = tokens.isPlaceholderData ? undefined : tokens.data;
  const [kept, setKept] = useState(live);
  if (live !== undefined && live !== kept) setKept(live);
  const badSearch =
    onServer && tokens.error instanceof ApiError && tokens.error.status === 400 && tokens.error.field === "q"
      ? tokens.error
      : null;
  const data = tokens.data ?? (badSearch || tokens.isPending ? kept : undefined);
  const narrow = useMedia("(max-width: 720px)");
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [bulk, setBulk] = useState<BulkRun | null>(null);
  const [done, setDone] = useState(0);
  const [message, setMessage] = useState("");
  // Keys fetched for "Select all N matching" beyond the pages the list holds yet (for
  // the search they were fetched for); once the list has every page they are not needed.
  const [extra, setExtra] = useState<{ search: string; tokens: Token[] }>({ search: "", tokens: [] });
  const bulkChange = useBulkChange(scope);
  const me = useMe();
  // Everyone's keys: a new key is for the owner "New key" asked for.
  const [asking, setAsking] = useState(false);
  const [createFor, setCreateFor] = useState("");
  const createScope: OwnerScope = scope.kind === "all" ? { kind: "owner", owner: createFor } : scope;
  const create = useCreateToken(createScope);
  const update = useUpdateToken(scope);
  const rotate = useRotateToken(scope);
  const revoke = useRevokeToken(scope);
  const [modal, setModal] = useState<Modal>({ kind: "none" });
  // What the forms offer depends on the key's owner: the edited key's, or the new key's.
  const formScope: OwnerScope =
    scope.kind !== "all" ? scope : modal.kind === "edit" ? { kind: "owner", owner: modal.token.owner } : createScope;
  const grantable = useGrantable(formScope, modal.kind === "create" || modal.kind === "edit");
  // Never before the list was fetched: a key made a moment ago is not "in the future".
  const now = Math.max(useNow(), tokens.dataUpdatedAt);
  const mutations = [create, update, rotate, revoke];
  const keyScope = scope.kind === "me" ? "me" : "any";

  const open = (m: Modal) => {
    mutations.forEach((x) => {
      x.reset();
    });
    if (everyone && m.kind === "create") setAsking(true);
    else setModal(m);
  };

  if (data === undefined && tokens.isPending) return <Loading what="keys" />;
  // An error with no keys on screen yet; once there are, a failed refresh keeps them
  // under a banner instead. A search the server refused keeps the filter box on screen,
  // with why (and the last keys it found, if any).
  if (data === undefined && !badSearch)
    return (
      <ErrorNote
        error={tokens.error}
        onRetry={() => {
          void tokens.refetch();
        }}
      />
    );

  const pages = data?.pages ?? [];
  const all = withExtra(
    pages.flatMap((p) => p.tokens),
    tokens.hasNextPage && extra.search === search ? extra.tokens : [],
  );
  const lastCursor = pages[pages.length - 1]?.next_cursor;
  const byId = new Map(all.map((t) => [t.id, t]));
  // Keys revoked meanwhile (here or elsewhere) drop out of the selection.
  const chosen = new Set([...selected].filter((id) => byId.has(id)));
  const bulkProps: BulkDialogProps | null = bulk && {
    action: bulk.action,
    tokens: bulk.tokens,
    running: bulkChange.isPending,
    done,
    failures: bulk.failures,
    succeeded: bulk.succeeded,
    showOwner: everyone,
    onClose: () => {
      if (!bulkChange.isPending) setBulk(null);
    },
    onConfirm: () => {
      const ids = bulk.tokens.map((t) => t.id);
      setDone(0);
      setMessage("");
      bulkChange.mutate(
        { action: bulk.action, ids, onProgress: setDone },
        {
          onSuccess: (outcomes) => {
            const failures = new Map(outcomes.flatMap((o) => (o.error === undefined ? [] : [[o.id, o.error] as const])));
            const succeeded = outcomes.length - failures.size;
            // The failed keys stay selected (and in the dialog, with why); the rest are done.
            // Keys selected but not in this change (one key's, from its menu) stay so.
            const ran = new Set(ids);
            setSelected(new Set([...chosen].filter((id) => !ran.has(id) || failures.has(id))));
            setExtra({ search: "", tokens: [] });
            if (failures.size === 0) {
              setBulk(null);
              setMessage(`${succeeded === 1 ? "1 key" : `${succeeded} keys`} ${pastTense[bulk.action]}.`);
            } else
              setBulk({
                action: bulk.action,
                tokens: bulk.tokens.filter((t) => failures.has(t.id)),
                failures,
                succeeded,
              });
          },
        },
      );
    },
  };

  return (
    <>
      <KeysView
        title={title}
        {...(intro ? { intro } : {})}
        aside={
          <>
            {isStale(tokens) && (
              <StaleBanner
                what={scope.kind === "me" ? "your keys" : "the keys"}
                error={tokens.error}
                updatedAt={tokens.dataUpdatedAt}
                onRetry={() => {
                  void tokens.refetch();
                }}
              />
            )}
            {scope.kind === "owner" ? (
              <>
                <OwnerRolesPanel owner={scope.owner} />
                <OwnerLimitsPanel owner={scope.owner} />
              </>
            ) : scope.kind === "me" ? (
              <MyLimits />
            ) : null}
          </>
        }
        tokens={all}
        damaged={pages.flatMap((p) => p.damaged.map((d) => d.id))}
        loadingMore={everyone ? tokens.isFetchingNextPage : tokens.hasNextPage}
        {...(everyone && tokens.hasNextPage && !tokens.isFetchingNextPage
          ? {
              loadMore: {
                shown: all.length,
                total: pages[0]?.total,
                onLoad: () => {
                  void tokens.fetchNextPage();
                },
              },
            }
          : {})}
        list={list}
        onList={(s) => {
          setParams(listParams(s), { replace: true });
        }}
        pageSize={narrow ? NARROW_ROWS : ROWS_PER_PAGE}
        {...(onServer
          ? {
              search: {
                help: SEARCH_HELP,
                error: badSearch?.message,
                pending: typed !== search || (tokens.isFetching && tokens.isPlaceholderData),
              },
            }
          : {})}
        selected={chosen}
        onSelect={(ids, on) => {
          const next = new Set(chosen);
          for (const id of ids) {
            if (on) next.add(id);
            else next.delete(id);
          }
          setSelected(next);
        }}
        onSetDisabled={(t, disabled) => {
          setDone(0);
          setBulk({ action: disabled ? "disable" : "enable", tokens: [t], failures: new Map(), succeeded: 0 });
        }}
        {...(tokens.hasNextPage
          ? {
              more: {
                total: pages[0]?.total,
                fetchRest: async () => {
                  const q = new URLSearchParams();
                  if (search) q.set("q", search);
                  if (everyone) q.set("sort", sortValue(list));
                  const rest = await restOfPages(
                    (cursor) => api.get(pagePath(scopePath(scope), cursor, q, LIST_PAGE_SIZE), tokenPageSchema),
                    lastCursor,
                  );
                  setExtra({ search, tokens: rest });
                  return rest;
                },
              },
            }
          : {})}
        onBulk={(action) => {
          setDone(0);
          setBulk({ action, tokens: [...chosen].flatMap((id) => byId.get(id) ?? []), failures: new Map(), succeeded: 0 });
        }}
        bulk={bulkProps}
        message={message}
        onDeleteDamaged={(id) => {
          revoke.mutate(id);
        }}
        now={now}
        keyHref={(t) => keyHref(keyScope, t.id)}
        {...(everyone
          ? {
              // A click on the owner opens their page; the funnel narrows this list to them.
              owner: (t: Token) => (
                <OwnerCell
                  owner={t.owner}
                  onOnly={(q) => {
                    setParams(listParams({ ...list, q, page: 1 }), { replace: true });
                  }}
                  q={list.q}
                />
              ),
            }
          : // Everyone's usage has no per-key pages to read the last 24 h from.
            {
              activity: (t: Token) => (
                <KeyActivity activity={t.activity} />
              ),
            })}
        gateUrl={new URL(`${config.base_path}/forward-auth`, window.location.origin).href}
        modal={modal}
        busy={mutations.some((x) => x.isPending)}
        error={mutations.find((x) => x.error)?.error ?? null}
        mayRaiseLimits={me.data ? me.data.admin || me.data.may_raise_limits : true}
        grantable={grantable}
        onModal={open}
        onCreate={(v) => {
          create.mutate(createBody(v), {
            onSuccess: (created) => {
              setModal({ kind: "created", created });
            },
          });
        }}
        onUpdate={(t, v) => {
          update.mutate(
            { id: t.id, body: patchBody(v, t.limits, undefined, t) },
            {
              onSuccess: () => {
                setModal({ kind: "none" });
              },
            },
          );
        }}
        onRotate={(t, graceSeconds, expiresAt) => {
          rotate.mutate(
            { id: t.id, graceSeconds, expiresAt },
            {
              onSuccess: (created) => {
                setModal({ kind: "created", created });
              },
            },
          );
        }}
        onRevoke={(t) => {
          revoke.mutate(t.id, {
            onSuccess: () => {
              setModal({ kind: "none" });
            },
          });
        }}
      />
      {asking && (
        <OwnerPrompt
          initial={createFor}
          onClose={() => {
            setAsking(false);
          }}
          onChoose={(owner) => {
            setCreateFor(owner);
            setAsking(false);
            setModal({ kind: "create" });
          }}
        />
      )}
    </>
  );
}

const pastTense: Record<BulkAction, string> = { disable: "disabled", enable: "enabled", revoke: "revoked" };

/** Whether a media query matches, following changes (a phone turned sideways). */
function useMedia(query: string): boolean {
  const get = () => typeof window.matchMedia === "function" && window.matchMedia(query).matches;
  const [matches, setMatches] = useState(get);
  useEffect(() => {
    if (typeof window.matchMedia !== "function") return;
    const m = window.matchMedia(query);
    const on = () => {
      setMatches(m.matches);
    };
    m.addEventListener("change", on);
    return () => {
      m.removeEventListener("change", on);
    };
  }, [query]);
  return matches;
}

/** `value`, once it has stayed the same for `ms` (the first value at once). */
function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => {
      setSettled(value);
    }, ms);
    return () => {
      clearTimeout(t);
    };
  }, [value, ms]);
  return settled;
}

/** The time, refreshed every minute, so "in 5 minutes" stays true on an open page. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => {
      setNow(Date.now());
    }, 60_000);
    return () => {
      clearInterval(t);
    };
  }, []);
  return now;
}
