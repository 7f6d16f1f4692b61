// The API's JSON shapes (src/http/api.rs), checked at run time: a server that answers
// something else is reported as such instead of half-rendering. schemas.openapi.test.ts
// holds them against the server's OpenAPI document (openapi.snapshot.json).
import { z } from "zod";

export const ruleSchema = z.object({
  hosts: z.array(z.string()).default([]),
  paths: z.array(z.string()).default([]),
  methods: z.array(z.string()).default([]),
});
export type Rule = z.infer<typeof ruleSchema>;

export const tokenStatus = z.enum(["active", "disabled", "expired", "rotating"]);
export type TokenStatus = z.infer<typeof tokenStatus>;

/** A rate limit: at most `limit` requests per `window` ("30s", "1m", "1h", "1d"). */
export const rateLimitSchema = z.object({
  name: z.string(),
  limit: z.number().int(),
  window: z.string(),
});
export type RateLimit = z.infer<typeof rateLimitSchema>;

/** Once per interval ("daily", "weekly", "monthly" or a duration such as "12h") the balance is set to `amount`. */
export const refillSchema = z.object({ amount: z.number().int(), interval: z.string() });
export type Refill = z.infer<typeof refillSchema>;

export const creditsSchema = z.object({
  remaining: z.number().int(),
  refill: refillSchema.nullable(),
});
export type Credits = z.infer<typeof creditsSchema>;

/** A key's or an owner's usage limits; `credits: null` means no quota. */
export const limitsSchema = z.object({
  rate_limits: z.array(rateLimitSchema),
  credits: creditsSchema.nullable(),
});
export type Limits = z.infer<typeof limitsSchema>;

// Request bodies about limits (sent, never parsed). A create's `limits` and an owner's
// PUT body are a whole `Limits`; a PATCH says only what changes:

export interface CreditsPatch {
  /** Absent: the current (live) balance stays. Required where the key had no credits. */
  remaining?: number;
  /** Absent: unchanged; null: no refill. */
  refill?: Refill | null;
}

export interface LimitsPatch {
  /** Absent: unchanged; present: replaces the list. */
  rate_limits?: RateLimit[];
  /** Absent: unchanged; null: no quota. */
  credits?: CreditsPatch | null;
}

/**
 * Why the gate refuses every request with a key right now: `code` is the gate's error
 * ("unauthorized": disabled or expired; "usage_exceeded": credits used up), `scope`
 * whose setting it is ("key", or "owner": the owner's shared credits), `reason` in words.
 * Plain strings on the server: the UI shows `reason` and reads the others as hints.
 */
export const refusedNowSchema = z.object({
  code: z.string(),
  scope: z.string(),
  reason: z.string(),
});
export type RefusedNow = z.infer<typeof refusedNowSchema>;

/**
 * A key's or an owner's last 24 hours: requests, refusals (forbidden, refused, rate
 * limited, usage exceeded), and the 24 hours up to now, oldest first, as [allowed, refused].
 */
export const activitySchema = z.object({
  requests: z.number().int(),
  refusals: z.number().int(),
  hourly: z.array(z.array(z.number().int())),
});
export type Activity = z.infer<typeof activitySchema>;

export const tokenSchema = z.object({
  id: z.string(),
  owner: z.string(),
  name: z.string(),
  hint: z.string(),
  status: tokenStatus,
  created_at: z.string(),
  created_by: z.string(),
  expires_at: z.string().nullable(),
  disabled: z.boolean(),
  last_used_at: z.string().nullable(),
  rules: z.array(ruleSchema),
  metadata: z.record(z.string(), z.string()),
  replaces: z.string().nullable(),
  replaced_by: z.string().nullable(),
  grace_until: z.string().nullable(),
  limits: limitsSchema,
  /** Roles attached to the key (older servers know none). */
  roles: z.array(z.string()).optional().default([]),
  /** Permissions attached to the key directly. */
  permissions: z.array(z.string()).optional().default([]),
  /** Whether the key also holds its owner's roles' permissions (the default). */
  inherit_owner_roles: z.boolean().optional().default(true),
  /** Present when the gate refuses every request with the key now (older servers never say). */
  refused_now: refusedNowSchema.optional(),
  /** In lists: the key's last 24 hours (absent when it asked nothing). */
  activity: activitySchema.optional(),
});
export type Token = z.infer<typeof tokenSchema>;

/** POST /api/tokens/{id}/credits (admin): credits added to the key's balance (1 to 10^15). */
export const addCreditsSchema = z.object({ add: z.number().int() });
export type AddCredits = z.infer<typeof addCreditsSchema>;
/**
 * A page of keys; `damaged` names keys whose stored record cannot be read (only deleted);
 * `total`, the number of keys the listing (and its `q`) finds over all its pages (servers
 * before issue 28 did not count them).
 */
export const tokenPageSchema = z.object({
  tokens: z.array(tokenSchema),
  next_cursor: z.string().optional(),
  damaged: z.array(z.object({ id: z.string() })),
  total: z.number().int().optional(),
});
export type TokenPage = z.infer<typeof tokenPageSchema>;

export const createdSchema = z.object({
  key: z.string(),
  id: z.string(),
  hint: z.string(),
  token: tokenSchema,
  replaced: tokenSchema.optional(),
});
export type Created = z.infer<typeof createdSchema>;

export const meSchema = z.object({
  subject: z.string(),
  admin: z.boolean(),
  auth: z.enum(["oidc", "admin-key"]),
  name: z.string().optional(),
  single_operator: z.boolean(),
  /** May this account loosen limits? Older servers do not say: then no. */
  may_raise_limits: z.boolean().optional().default(false),
});
export type Me = z.infer<typeof meSchema>;

/** An owner, their number of keys, and their keys' last 24 hours together (absent: none). */
export const ownerSchema = z.object({ owner: z.string(), keys: z.number().int(), activity: activitySchema.optional() });
export type Owner = z.infer<typeof ownerSchema>;
export const ownerPageSchema = z.object({
  owners: z.array(ownerSchema),
  next_cursor: z.string().optional(),
});

/** The limits shared by all of an owner's keys, and where they come from. */
export const ownerLimitsSchema = z.object({
  owner: z.string(),
  source: z.enum(["owner", "default", "none"]),
  limits: limitsSchema,
});
export type OwnerLimits = z.infer<typeof ownerLimitsSchema>;

/** A named set of permissions; `owners`: the subjects it is granted to. */
export const roleSchema = z.object({
  name: z.string(),
  description: z.string(),
  permissions: z.array(z.string()),
  owners: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Role = z.infer<typeof roleSchema>;
export const roleListSchema = z.object({ roles: z.array(roleSchema) });

/** The roles granted to an owner (GET and PUT /api/users/{sub}/roles). */
export const ownerRolesSchema = z.object({ owner: z.string(), roles: z.array(z.string()) });
export type OwnerRoles = z.infer<typeof ownerRolesSchema>;

/**
 * What the caller may attach to their own keys (GET /api/me/grants): `any` (an admin)
 * anything; otherwise these roles, and permissions covered by one of `permissions`.
 */
export const grantsSchema = z.object({
  any: z.boolean(),
  roles: z.array(z.object({ name: z.string(), description: z.string(), permissions: z.array(z.string()) })),
  permissions: z.array(z.string()),
});
export type Grants = z.infer<typeof grantsSchema>;
export type GrantRole = Grants["roles"][number];

/** A key's effective permissions, each with where it comes from ("key", "role:x", "owner-role:x"). */
export const keyPermissionsSchema = z.object({
  permissions: z.array(z.object({ permission: z.string(), sources: z.array(z.string()) })),
});
export type KeyPermissions = z.infer<typeof keyPermissionsSchema>;

export const auditEventSchema = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  auth: z.string(),
  action: z.string(),
  owner: z.string(),
  token_id: z.string().nullable().optional(),
  client: z.string().nullable().optional(),
  /** The key's name at the time (absent for events about an owner, and in older events). */
  name: z.string().nullable().optional(),
  /** What an update changed, field by field, as text (never a key or a hash). */
  changes: z
    .array(z.object({ field: z.string(), from: z.string().nullable().optional(), to: z.string().nullable().optional() }))
    .optional()
    .default([]),
});
export type AuditChange = z.infer<typeof auditEventSchema>["changes"][number];
export type AuditEvent = z.infer<typeof auditEventSchema>;
export const auditPageSchema = z.object({
  events: z.array(auditEventSchema),
  next_before: z.number().int().optional(),
});
export type AuditPage = z.infer<typeof auditPageSchema>;

export const errorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
  field: z.string().optional(),
});

export const uiConfigSchema = z.object({
  app_name: z.string(),
  base_path: z.string(),
  single_operator: z.boolean(),
  admin_key_login: z.boolean(),
  oidc_authority: z.string().nullable(),
  oidc_client_id: z.string().nullable(),
  oidc_redirect_uri: z.string().nullable(),
  oidc_scope: z.string(),
  oidc_resource: z.string().nullable(),
  docs_html: z.string(),
  api_docs_path: z.string(),
});
export type UiConfig = z.infer<typeof uiConfigSchema>;

/** Decisions about a key (or an owner's keys, or everyone's) by outcome. */
export const outcomeCountsSchema = z.object({
  allowed: z.number().int(),
  /** Refused by the key's rules. */
  forbidden: z.number().int(),
  /** The key was disabled, expired or past its rotation grace. */
  refused: z.number().int(),
  rate_limited: z.number().int(),
  usage_exceeded: z.number().int(),
  /** What the upstream answered behind keygate's inline proxy, by status class (absent: none). */
  upstream_2xx: z.number().int().optional(),
  upstream_3xx: z.number().int().optional(),
  upstream_4xx: z.number().int().optional(),
  upstream_5xx: z.number().int().optional(),
  /** No answer: keygate said 502 or 504. */
  upstream_failed: z.number().int().optional(),
});
export type OutcomeCounts = z.infer<typeof outcomeCountsSchema>;

export const usagePointSchema = outcomeCountsSchema.extend({ t: z.string() });
export type UsagePoint = z.infer<typeof usagePointSchema>;

/** Every bucket of a range (empty ones included), and the totals. */
export const usageSeriesSchema = z.object({
  from: z.string(),
  to: z.string(),
  step: z.enum(["minute", "hour", "day"]),
  totals: outcomeCountsSchema,
  points: z.array(usagePointSchema),
});
export type UsageSeries = z.infer<typeof usageSeriesSchema>;

/** An owner's keys together, and a page of per-key totals. */
export const ownerUsageSchema = z.object({
  owner: z.string(),
  series: usageSeriesSchema,
  keys: z.array(z.object({ id: z.string(), name: z.string(), totals: outcomeCountsSchema })),
  next_cursor: z.string().optional(),
});
export type OwnerUsage = z.infer<typeof ownerUsageSchema>;

/** Everyone's usage, and the busiest keys (owner and name absent once deleted) and owners. */
export const allUsageSchema = z.object({
  series: usageSeriesSchema,
  top_keys: z.array(
    z.object({ id: z.string(), owner: z.string().optional(), name: z.string().optional(), totals: outcomeCountsSchema }),
  ),
  top_owners: z.array(z.object({ owner: z.string(), totals: outcomeCountsSchema })),
  /** The same, ranked by refusals (only those refused anything). */
  top_refused_keys: z.array(
    z.object({ id: z.string(), owner: z.string().optional(), name: z.string().optional(), totals: outcomeCountsSchema }),
  ),
  top_refused_owners: z.array(z.object({ owner: z.string(), totals: outcomeCountsSchema })),
});
export type AllUsage = z.infer<typeof allUsageSchema>;

/** One request decided with a key (GET …/tokens/{id}/recent), newest first. */
export const recentRequestSchema = z.object({
  id: z.string(),
  /** Unix milliseconds. */
  at_ms: z.number().int(),
  /** allowed, forbidden, refused, rate_limited or usage_exceeded. */
  outcome: z.string(),
  method: z.string(),
  host: z.string(),
  /** Without its query string. */
  path: z.string(),
  client: z.string(),
});
export type RecentRequest = z.infer<typeof recentRequestSchema>;
/** A key's recent requests; `kept`: how many the server keeps per key (0: none). */
export const recentPageSchema = z.object({ requests: z.array(recentRequestSchema), kept: z.number().int() });
export type RecentPage = z.infer<typeof recentPageSchema>;

// ---------- webhooks (admin): endpoints, the event catalogue, deliveries and attempts

/**
 * A webhook endpoint as the API shows it: no secret, a hint of the newest. Empty
 * `event_types` or `owners`: every type, every owner.
 */
export const webhookEndpointSchema = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string(),
  /** Event types (`key.revoked`) or families (`key.*`). */
  event_types: z.array(z.string()),
  owners: z.array(z.string()),
  disabled: z.boolean(),
  /** Why keygate disabled it (410 Gone, failing for days); absent when an admin did. */
  disabled_reason: z.string().nullable().optional(),
  created_at: z.string(),
  /** Since when every delivery has failed (cleared by a success). */
  failing_since: z.string().nullable().optional(),
  /** The start of the newest secret, "whsec_AbCd…". */
  secret_hint: z.string(),
  /** How many secrets sign now (2 during a rotation's overlap). */
  signing_secrets: z.number().int(),
});
export type WebhookEndpoint = z.infer<typeof webhookEndpointSchema>;
export const webhookListSchema = z.object({ endpoints: z.array(webhookEndpointSchema) });

/** A new endpoint, or a rotated secret: the secret (`whsec_…`) is in this answer only. */
export const webhookSecretSchema = z.object({ endpoint: webhookEndpointSchema, secret: z.string() });
export type WebhookSecret = z.infer<typeof webhookSecretSchema>;

/** The event types keygate sends (GET /api/webhooks/types). */
export const eventTypesSchema = z.object({
  types: z.array(z.object({ type: z.string(), description: z.string() })),
});
export type EventType = z.infer<typeof eventTypesSchema>["types"][number];

/** One attempt at a delivery: the answer's status (none without an answer), or why it failed. */
export const attemptSchema = z.object({
  at: z.string(),
  status: z.number().int().nullable().optional(),
  duration_ms: z.number().int(),
  error: z.string().nullable().optional(),
  /** The start of the answer's body (at most 512 bytes). */
  response: z.string().optional().default(""),
  /** Made because someone asked for a replay. */
  replay: z.boolean().optional().default(false),
});
export type Attempt = z.infer<typeof attemptSchema>;

export const deliveryStateSchema = z.enum(["pending", "delivered", "failed"]);
export type DeliveryState = z.infer<typeof deliveryStateSchema>;

/** One event to one endpoint, with its attempts (oldest first, the last 30). */
export const deliverySchema = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  /** The `webhook-id` header of every attempt. */
  event_id: z.string(),
  event_type: z.string(),
  owner: z.string().nullable().optional(),
  event_at: z.string(),
  /** When the delivery was made (unix ms). */
  created_ms: z.number().int(),
  state: deliveryStateSchema,
  /** When the next attempt is due (unix ms), while pending. */
  next_attempt_at_ms: z.number().int().nullable().optional(),
  attempts: z.array(attemptSchema).optional().default([]),
  tries: z.number().int().optional().default(0),
  replays: z.number().int().optional().default(0),
  /** Set by a replay: the next attempt is one. */
  replay_pending: z.boolean().optional().default(false),
  /** The exact body sent (JSON). */
  payload: z.string(),
});
export type Delivery = z.infer<typeof deliverySchema>;
export const deliveryPageSchema = z.object({
  deliveries: z.array(deliverySchema),
  next_before: z.string().nullable().optional(),
});
export type DeliveryPage = z.infer<typeof deliveryPageSchema>;
