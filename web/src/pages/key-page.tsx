// One key: everything about it, the limits its owner's keys share, its usage over a
// chosen range, its last requests, and its actions (the same dialogs as the list).
// Mine at /keys/{id}; anyone's (admin) at /admin/keys/{id}.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { AddCreditsForm } from "../components/add-credits";
import { CopyButton } from "../components/copy-button";
import { KeyDialogs, type Modal } from "../components/key-dialogs";
import { KeyPermissionsPanel } from "../components/key-permissions";
import { LimitsSummary } from "../components/limits-summary";
import { KeyOwnerLimits } from "../components/owner-limits";
import { StaleBanner, isStale } from "../components/stale-banner";
import { QueryView, fromQuery } from "../components/query-view";
import { RecentRequests } from "../components/recent-requests";
import { RefusedNotice, shownRefusal } from "../components/refused-now";
import { ErrorNote, Loading } from "../components/state";
import { StatusBadge } from "../components/status-badge";
import { RangePicker, UsageChart, rangeLabel } from "../components/usage-chart";
import { ApiError } from "../lib/api";
import { useAuth } from "../lib/auth";
import { absolute, relative } from "../lib/format";
import { createBody, patchBody } from "../lib/key-form-model";
import { useCreateToken, useRevokeToken, useRotateToken, useToken, useUpdateToken } from "../lib/queries/keys";
import { useGrantable } from "../lib/queries/grants";
import { useMe } from "../lib/queries/me";
import type { KeyScope, Scope } from "../lib/queries/scope";
import { useKeyUsage } from "../lib/queries/usage";
import type { Token } from "../lib/schemas";
import { keyHref, ownerHref } from "../lib/links";
import { type RangePreset, type UpstreamAnswers, upstreamAnswers } from "../lib/usage";

/** "1 Jun 2026, 14:00 CEST (in 3 days)": the date in the browser's locale and zone, and how far. */
function When({ iso, now }: { iso: string; now: number }) {
  return (
    <>
      <time dateTime={iso}>{absolute(iso)}</time> <span className="muted">({relative(iso, now)})</span>
    </>
  );
}

/** The key a rotation links this one to: its name and hint, or that it is gone. */
function LinkedKey({ scope, id }: { scope: KeyScope; id: string }) {
  const linked = useToken(scope, id);
  if (linked.error instanceof ApiError && linked.error.status === 404) {
    return (
      <>
        <code>{id}</code> <span className="muted">(revoked: no longer exists)</span>
      </>
    );
  }
  return (
    <Link to={keyHref(scope, id)}>
      {linked.data ? (
        <>
          {linked.data.name} <code>{linked.data.hint}</code>
        </>
      ) : (
        <code>{id}</code>
      )}
    </Link>
  );
}

function KeyUsage({ scope, id }: { scope: KeyScope; id: string }) {
  const [range, setRange] = useState<RangePreset>("24h");
  const usage = useKeyUsage(scope, id, range);
  return (
    <section className="panel usage-panel" aria-labelledby="usage-title">
      <div className="panel-head">
        <h2 id="usage-title">Usage</h2>
        <RangePicker value={range} onChange={setRange} />
      </div>
      <QueryView what="usage" {...fromQuery(usage)}>
        {(series) => (
          <>
            <UsageChart series={series} title={`Requests over the last ${rangeLabel(range)}`} />
            <UpstreamSummary answers={upstreamAnswers(series.totals)} />
          </>
        )}
      </QueryView>
    </section>
  );
}

/** Behind the inline proxy: what the service answered this key, and its error rate. */
function UpstreamSummary({ answers: a }: { answers: UpstreamAnswers }) {
  if (a.total === 0 || a.errorRate === null) return null;
  const percent = (a.errorRate * 100).toFixed(a.errorRate < 0.1 ? 1 : 0);
  return (
    <p className="upstream-summary">
      <strong>Upstream error rate {percent}%</strong>{" "}
      <span className="muted">
        of {a.total} answers: {a.success} 2xx · {a.redirect} 3xx · {a.clientError} 4xx · {a.serverError} 5xx ·{" "}
        {a.failed} without an answer (502/504)
      </span>
    </p>
  );
}

function Details({ t, scope, now, admin }: { t: Token; scope: KeyScope; now: number; admin: boolean }) {
  const meta = Object.entries(t.metadata);
  const expired = t.expires_at !== null && Date.parse(t.expires_at) <= now;
  return (
    <dl className="key-details">
      <dt>Hint</dt>
      <dd>
        <code>{t.hint}</code>
      </dd>
      <dt>Id</dt>
      <dd className="key-id">
        <code>{t.id}</code> <CopyButton text={t.id} label="Copy id" />
      </dd>
      <dt>Owner</dt>
      <dd>
        {scope === "any" ? <Link to={ownerHref(t.owner)}>{t.owner}</Link> : t.owner}
      </dd>
      <dt>Created</dt>
      <dd>
        <When iso={t.created_at} now={now} /> by {t.created_by}
      </dd>
      <dt>{expired ? "Expired" : "Expires"}</dt>
      <dd data-testid="key-expiry">
        {t.expires_at ? (
          expired ? (
            <span className="warn">
              expired on <When iso={t.expires_at} now={now} />
            </span>
          ) : (
            <When iso={t.expires_at} now={now} />
          )
        ) : (
          "never"
        )}
        {t.grace_until && (
          <>
            {" "}
            <span className="warn">
              (replaced; works until <When iso={t.grace_until} now={now} />)
            </span>
          </>
        )}
      </dd>
      <dt>Last used</dt>
      <dd>{t.last_used_at ? <When iso={t.last_used_at} now={now} /> : "never"}</dd>
      <dt>Rules</dt>
      <dd>
        {t.rules.length === 0 ? (
          "any host, path and method"
        ) : (
          <ul className="plain-list">
            {t.rules.map((r, i) => (
              <li key={i}>
                {r.methods.length ? r.methods.join(", ") : "any method"} ·{" "}
                {r.hosts.length ? r.hosts.join(", ") : "any host"} · {r.paths.length ? r.paths.join(", ") : "any path"}
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Metadata</dt>
      <dd>
        {meta.length === 0 ? (
          <span className="muted">none</span>
        ) : (
          <ul className="plain-list">
            {meta.map(([k, v]) => (
              <li key={k}>
                <code>{k}</code> = {v}
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Limits</dt>
      <dd data-testid="key-limits">
        <LimitsSummary limits={t.limits} />
        {admin && t.limits.credits && (
          <div className="credit-actions">
            <AddCreditsForm token={t} />
            <AddCreditsForm token={t} mode="set" />
          </div>
        )}
      </dd>
      {t.replaces && (
        <>
          <dt>Replaces</dt>
          <dd data-testid="replaces">
            <LinkedKey scope={scope} id={t.replaces} /> <span className="muted small">(rotated into this key)</span>
          </dd>
        </>
      )}
      {t.replaced_by && (
        <>
          <dt>Replaced by</dt>
          <dd data-testid="replaced-by">
            <LinkedKey scope={scope} id={t.replaced_by} /> <span className="muted small">(this key’s rotation)</span>
          </dd>
        </>
      )}
    </dl>
  );
}

export function KeyPage({ scope }: { scope: KeyScope }) {
  const { id = "" } = useParams();
  const { config } = useAuth();
  const navigate = useNavigate();
  // While it is deleted, the key is not read again (it would answer 404 before we leave).
  const [leaving, setLeaving] = useState(false);
  const token = useToken(scope, id, !leaving);
  const me = useMe();
  // The actions go through the owner's routes: mine, or (admin) the key's owner's.
  const owner: Scope = scope === "me" ? { kind: "me" } : { kind: "owner", owner: token.data?.owner ?? "" };
  const create = useCreateToken(owner);
  const update = useUpdateToken(owner);
  const rotate = useRotateToken(owner);
  const revoke = useRevokeToken(owner);
  const [modal, setModal] = useState<Modal>({ kind: "none" });
  const grantable = useGrantable(owner, (modal.kind === "create" || modal.kind === "edit") && token.data !== undefined);
  const [now] = useState(() => Date.now());
  const mutations = [create, update, rotate, revoke];
  const listHref = scope === "me" ? "/keys" : ownerHref(token.data?.owner ?? "");

  const open = (m: Modal) => {
    mutations.forEach((x) => {
      x.reset();
    });
    setModal(m);
  };

  if (token.isPending) return <Loading what="the key" />;
  // A failed refresh keeps the key on screen (under a banner); only a failed first read replaces it.
  if (token.isError && !isStale(token))
    return (
      <section className="page">
        <ErrorNote
          error={token.error}
          onRetry={() => {
            void token.refetch();
          }}
        />
        <p>
          <Link to={scope === "me" ? "/keys" : "/admin/keys"}>Back to the keys</Link>
        </p>
      </section>
    );

  const t = token.data;
  if (t === undefined) return <Loading what="the key" />;
  return (
    <section className="page key-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        {scope === "me" ? (
          <Link to="/keys">My keys</Link>
        ) : (
          <>
            <Link to="/admin/keys">Keys</Link> <span aria-hidden="true">›</span> <Link to={listHref}>{t.owner}</Link>
          </>
        )}{" "}
        <span aria-hidden="true">›</span> <span>{t.name}</span>
      </nav>
      <div className="page-head">
        <h1>
          {t.name} <StatusBadge status={t.status} />
          {t.refused_now && <span className="badge badge-refused">Refused</span>}
        </h1>
        <div className="key-actions">
          <button
            type="button"
            className="button"
            onClick={() => {
              open({ kind: "edit", token: t });
            }}
          >
            Edit
          </button>
          <button
            type="button"
            className="button"
            disabled={t.status === "rotating"}
            onClick={() => {
              open({ kind: "rotate", token: t });
            }}
          >
            Rotate
          </button>
          <button
            type="button"
            className="button"
            disabled={update.isPending}
            onClick={() => {
              update.reset();
              update.mutate({ id: t.id, body: { disabled: !t.disabled } });
            }}
          >
            {t.disabled ? "Enable" : "Disable"}
          </button>
          <button
            type="button"
            className="button button-danger"
            onClick={() => {
              open({ kind: "revoke", token: t });
            }}
          >
            Revoke
          </button>
        </div>
      </div>
      {isStale(token) && (
        <StaleBanner
          what="the key"
          error={token.error}
          updatedAt={token.dataUpdatedAt}
          onRetry={() => {
            void token.refetch();
          }}
        />
      )}
      {shownRefusal(t.refused_now) && <RefusedNotice refused={t.refused_now} admin={me.data?.admin ?? false} />}
      {modal.kind === "none" && update.error && (
        <p className="notice notice-error" role="alert">
          {update.error.message}
        </p>
      )}
      <Details t={t} scope={scope} now={Math.max(now, token.dataUpdatedAt)} admin={me.data?.admin ?? false} />
      <KeyOwnerLimits token={t} mine={scope === "me"} />
      <KeyPermissionsPanel scope={scope} token={t} enabled={!leaving} />
      <KeyUsage scope={scope} id={t.id} />
      <RecentRequests scope={scope} id={t.id} enabled={!leaving} />
      <KeyDialogs
        modal={modal}
        gateUrl={new URL(`${config.base_path}/forward-auth`, window.location.origin).href}
        busy={mutations.some((x) => x.isPending)}
        error={mutations.find((x) => x.error)?.error ?? null}
        mayRaiseLimits={me.data ? me.data.admin || me.data.may_raise_limits : true}
        grantable={grantable}
        onClose={() => {
          setModal({ kind: "none" });
        }}
        onCreate={(v) => {
          create.mutate(createBody(v), {
            onSuccess: (created) => {
              setModal({ kind: "created", created });
            },
          });
        }}
        onUpdate={(tok, v) => {
          update.mutate(
            { id: tok.id, body: patchBody(v, tok.limits, undefined, tok) },
            {
              onSuccess: () => {
                setModal({ kind: "none" });
              },
            },
          );
        }}
        onRotate={(tok, graceSeconds, expiresAt) => {
          rotate.mutate(
            { id: tok.id, graceSeconds, expiresAt },
            {
              onSuccess: (created) => {
                setModal({ kind: "created", created });
              },
            },
          );
        }}
        onRevoke={(tok) => {
          setLeaving(true);
          revoke.mutate(tok.id, {
            onSuccess: () => {
              // The key's page is gone: the keyboard goes to the list's heading (see Layout).
              void navigate(listHref, { replace: true, state: { focusHeading: true } });
            },
            onError: () => {
              setLeaving(false);
            },
          });
        }}
      />
    </section>
  );
}
