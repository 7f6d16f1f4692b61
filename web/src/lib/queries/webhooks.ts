// Webhooks (admin): the endpoints, the event types they may subscribe to, their
// deliveries page by page, and the changes (create, edit, enable or disable, delete,
// rotate the secret, send a test event, replay a delivery). Every change is audited, so
// the audit log is read again too.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { seg } from "../api";
import { useAuth } from "../auth";
import {
  type Delivery,
  deliveryPageSchema,
  deliverySchema,
  eventTypesSchema,
  webhookEndpointSchema,
  webhookListSchema,
  webhookSecretSchema,
} from "../schemas";

/** What POST /api/webhooks takes. */
export interface WebhookBody {
  url: string;
  description: string;
  /** Empty: every type. */
  event_types: string[];
  /** Empty: every owner. */
  owners: string[];
}

/** What PATCH /api/webhooks/{id} takes: only what changes. */
export type WebhookPatch = Partial<WebhookBody> & { disabled?: boolean };

/** Deliveries per page. */
export const DELIVERY_PAGE = 50;
/** While a delivery is pending its list is read again this often; otherwise less often. */
export const DELIVERY_REFRESH_PENDING_MS = 1000;
export const DELIVERY_REFRESH_MS = 5000;
/** How soon an attempt counts as "due now" for the refresh. */
const DUE_SOON_MS = 10_000;

/** How often to read deliveries again: every second while an attempt is (nearly) due. */
export function deliveryRefreshMs(deliveries: Delivery[], now: number = Date.now()): number {
  const due = deliveries.some(
    (d) => d.state === "pending" && (d.next_attempt_at_ms == null || d.next_attempt_at_ms - now <= DUE_SOON_MS),
  );
  return due ? DELIVERY_REFRESH_PENDING_MS : DELIVERY_REFRESH_MS;
}

/** An endpoint starts or stops failing on its own: its state is read again this often. */
const ENDPOINT_REFRESH_MS = 10_000;

const endpointPath = (id: string) => `/api/webhooks/${seg(id)}`;

export function useWebhooks() {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["webhooks"],
    queryFn: () => api.get("/api/webhooks", webhookListSchema),
    refetchInterval: ENDPOINT_REFRESH_MS,
  });
}

/** One endpoint; `enabled: false` (it is being deleted) keeps what was read without asking again. */
export function useWebhook(id: string, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["webhooks", id],
    queryFn: () => api.get(endpointPath(id), webhookEndpointSchema),
    enabled,
    refetchInterval: ENDPOINT_REFRESH_MS,
  });
}

/** The event types keygate sends; they change only with keygate. */
export function useEventTypes(enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["webhook-types"],
    queryFn: () => api.get("/api/webhooks/types", eventTypesSchema),
    enabled,
    staleTime: Infinity,
  });
}

/** An endpoint's deliveries, newest first, DELIVERY_PAGE at a time ("Load more": `before`). */
export function useDeliveries(id: string, enabled = true) {
  const { api } = useAuth();
  return useInfiniteQuery({
    queryKey: ["webhook-deliveries", id],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const p = new URLSearchParams({ limit: String(DELIVERY_PAGE) });
      if (pageParam !== undefined) p.set("before", pageParam);
      return api.get(`${endpointPath(id)}/deliveries?${p.toString()}`, deliveryPageSchema);
    },
    // The server offers a cursor whenever a page is full, even the last; an empty page ends it.
    getNextPageParam: (last) => (last.deliveries.length > 0 ? (last.next_before ?? undefined) : undefined),
    enabled,
    // An attempt due now, or in a few seconds: follow it closely; else now and then.
    refetchInterval: (q) => deliveryRefreshMs(q.state.data?.pages.flatMap((p) => p.deliveries) ?? []),
  });
}

/** One delivery (one not among the pages read, opened by a link). */
export function useDelivery(endpoint: string, id: string | null) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["webhook-deliveries", endpoint, "one", id],
    queryFn: () => api.get(`${endpointPath(endpoint)}/deliveries/${seg(id ?? "")}`, deliverySchema),
    enabled: id !== null,
    refetchInterval: (q) => (q.state.data ? deliveryRefreshMs([q.state.data]) : false),
  });
}

/** After any change: the endpoints, the deliveries, the audit log. */
function useRefresh() {
  const qc = useQueryClient();
  return () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: ["webhooks"] }),
      qc.invalidateQueries({ queryKey: ["webhook-deliveries"] }),
      qc.invalidateQueries({ queryKey: ["audit"] }),
    ]);
}

export function useCreateWebhook() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (body: WebhookBody) => api.send("POST", "/api/webhooks", body, webhookSecretSchema),
    onSuccess: refresh,
  });
}

export function useUpdateWebhook() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: WebhookPatch }) =>
      api.send("PATCH", endpointPath(id), body, webhookEndpointSchema),
    onSuccess: refresh,
  });
}

export function useDeleteWebhook() {
  const { api } = useAuth();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.sendEmpty("DELETE", endpointPath(id)),
    onSuccess: (_, id) => {
      // Its own queries would answer 404 from now on.
      qc.removeQueries({ queryKey: ["webhooks", id] });
      qc.removeQueries({ queryKey: ["webhook-deliveries", id] });
      return Promise.all([
        qc.invalidateQueries({ queryKey: ["webhooks"], exact: true }),
        qc.invalidateQueries({ queryKey: ["audit"] }),
      ]);
    },
  });
}

/** A new secret, shown once; the previous one keeps signing for `overlapSecs`. */
export function useRotateWebhookSecret() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: ({ id, overlapSecs }: { id: string; overlapSecs: number }) =>
      api.send("POST", `${endpointPath(id)}/rotate-secret`, { overlap_secs: overlapSecs }, webhookSecretSchema),
    onSuccess: refresh,
  });
}

/** A `webhook.test` event to one endpoint, whatever it subscribes to. */
export function useTestWebhook() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (id: string): Promise<Delivery> => api.send("POST", `${endpointPath(id)}/test`, undefined, deliverySchema),
    onSuccess: refresh,
  });
}

/** Sends a delivery again now (the same `webhook-id`), whatever became of it. */
export function useReplayDelivery() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (d: Pick<Delivery, "endpoint_id" | "id">): Promise<Delivery> =>
      api.send("POST", `${endpointPath(d.endpoint_id)}/deliveries/${seg(d.id)}/replay`, undefined, deliverySchema),
    onSuccess: refresh,
  });
}
