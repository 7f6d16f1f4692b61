// Data container for a page of keys: mine, or (admin) one owner's.
import { useEffect, useState } from "react";
import { KeyActivity } from "../components/key-activity";
import { type Modal, KeysView } from "../components/keys-view";
import { MyLimits, OwnerLimitsPanel } from "../components/owner-limits";
import { ErrorNote, Loading } from "../components/state";
import { useAuth } from "../lib/auth";
import { createBody, patchBody } from "../lib/key-form-model";
import { keyHref } from "../lib/links";
import type { OutcomeCounts } from "../lib/schemas";
import {
  type Scope,
  useCreateToken,
  useMe,
  useOwnerUsagePages,
  useRevokeToken,
  useRotateToken,
  useTokens,
  useUpdateToken,
} from "../lib/queries";

export function KeysPage({ scope, title, intro }: { scope: Scope; title: string; intro?: string }) {
  const { config } = useAuth();
  const tokens = useTokens(scope);
  const me = useMe();
  const create = useCreateToken(scope);
  const update = useUpdateToken(scope);
  const rotate = useRotateToken(scope);
  const revoke = useRevokeToken(scope);
  const [modal, setModal] = useState<Modal>({ kind: "none" });
  // Never before the list was fetched: a key made a moment ago is not "in the future".
  const now = Math.max(useNow(), tokens.dataUpdatedAt);
  const mutations = [create, update, rotate, revoke];
  // Per-key totals of the last 24 h: one request per page of keys.
  const usagePages = useOwnerUsagePages(scope, (tokens.data?.pageParams ?? []) as (string | undefined)[]);
  const totals = new Map<string, OutcomeCounts>();
  for (const u of usagePages) for (const k of u.data?.keys ?? []) totals.set(k.id, k.totals);
  const keyScope = scope.kind === "me" ? "me" : "any";

  const open = (m: Modal) => {
    mutations.forEach((x) => {
      x.reset();
    });
    setModal(m);
  };

  if (tokens.isPending) return <Loading what="keys" />;
  if (tokens.isError)
    return (
      <ErrorNote
        error={tokens.error}
        onRetry={() => {
          void tokens.refetch();
        }}
      />
    );

  return (
    <KeysView
      title={title}
      {...(intro ? { intro } : {})}
      aside={scope.kind === "owner" ? <OwnerLimitsPanel owner={scope.owner} /> : <MyLimits />}
      tokens={tokens.data.pages.flatMap((p) => p.tokens)}
      damaged={tokens.data.pages[0]?.damaged.map((d) => d.id) ?? []}
      more={tokens.hasNextPage}
      loadingMore={tokens.isFetchingNextPage}
      onMore={() => {
        void tokens.fetchNextPage();
      }}
      onDeleteDamaged={(id) => {
        revoke.mutate(id);
      }}
      now={now}
      keyHref={(t) => keyHref(keyScope, t.id)}
      activity={(t) => <KeyActivity scope={keyScope} id={t.id} totals={totals.get(t.id)} />}
      gateUrl={new URL(`${config.base_path}/forward-auth`, window.location.origin).href}
      modal={modal}
      busy={mutations.some((x) => x.isPending)}
      error={mutations.find((x) => x.error)?.error ?? null}
      mayRaiseLimits={me.data ? me.data.admin || me.data.may_raise_limits : true}
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
          { id: t.id, body: patchBody(v, t.limits) },
          {
            onSuccess: () => {
              setModal({ kind: "none" });
            },
          },
        );
      }}
      onRotate={(t, graceSeconds) => {
        rotate.mutate(
          { id: t.id, graceSeconds },
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
  );
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
