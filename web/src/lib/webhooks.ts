// Webhooks as the UI shows and edits them: the form's values and what is wrong with
// them, the bodies sent, event types grouped by family, an endpoint's state, and a
// delivery's last answer. Pure functions, tested on their own.
import type { WebhookBody, WebhookPatch } from "./queries/webhooks";
import type { Attempt, Delivery, EventType, WebhookEndpoint } from "./schemas";

/** What the server takes at most (src/events/endpoint.rs, guard.rs). */
export const WEBHOOK_BOUNDS = { url: 2048, description: 500, filters: 64, owner: 256 } as const;

export interface WebhookFormValues {
  url: string;
  description: string;
  /** True: every event type (`event_types` empty); false: those in `eventTypes`. */
  allEvents: boolean;
  /** Types (`key.revoked`) and families (`key.*`). */
  eventTypes: string[];
  /** As typed: one per line, or separated by commas; empty: every owner. */
  owners: string;
}

export type WebhookField = "url" | "description" | "event_types" | "owners";
export type WebhookErrors = Partial<Record<WebhookField, string>>;

export const emptyWebhookForm: WebhookFormValues = {
  url: "",
  description: "",
  allEvents: true,
  eventTypes: [],
  owners: "",
};

export function webhookFormOf(e: WebhookEndpoint): WebhookFormValues {
  return {
    url: e.url,
    description: e.description,
    allEvents: e.event_types.length === 0,
    eventTypes: e.event_types,
    owners: e.owners.join("\n"),
  };
}

/** The owners typed, one per line or comma-separated: trimmed, without blanks or repeats. */
export function parseOwners(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(/[\n,]/)) {
    const o = part.trim();
    if (o && !out.includes(o)) out.push(o);
  }
  return out;
}

/** What is wrong with an endpoint URL that the browser can tell; the server checks the address. */
export function urlError(raw: string): string | undefined {
  const url = raw.trim();
  if (!url) return "Enter the URL keygate should send events to.";
  if (url.length > WEBHOOK_BOUNDS.url) return `At most ${WEBHOOK_BOUNDS.url} characters.`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "Enter a whole URL, such as https://hooks.example.com/keygate.";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "Use an http:// or https:// URL.";
  if (parsed.username || parsed.password) {
    return "Leave credentials (user:password@) out: receivers check the signature instead.";
  }
  if (parsed.hash) return "Leave out the #fragment.";
  return undefined;
}

export function validateWebhook(v: WebhookFormValues): WebhookErrors {
  const errors: WebhookErrors = {};
  const url = urlError(v.url);
  if (url) errors.url = url;
  if (Array.from(v.description).length > WEBHOOK_BOUNDS.description) {
    errors.description = `At most ${WEBHOOK_BOUNDS.description} characters.`;
  }
  if (!v.allEvents && v.eventTypes.length === 0) {
    errors.event_types = "Tick at least one event type, or choose every event.";
  } else if (!v.allEvents && v.eventTypes.length > WEBHOOK_BOUNDS.filters) {
    errors.event_types = `At most ${WEBHOOK_BOUNDS.filters} event types.`;
  }
  const owners = parseOwners(v.owners);
  const long = owners.find((o) => new TextEncoder().encode(o).length > WEBHOOK_BOUNDS.owner);
  if (owners.length > WEBHOOK_BOUNDS.filters) errors.owners = `At most ${WEBHOOK_BOUNDS.filters} owners.`;
  else if (long) errors.owners = `“${long.slice(0, 40)}…” is longer than ${WEBHOOK_BOUNDS.owner} bytes.`;
  return errors;
}

export function webhookBodyOf(v: WebhookFormValues): WebhookBody {
  return {
    url: v.url.trim(),
    description: v.description.trim(),
    event_types: v.allEvents ? [] : v.eventTypes,
    owners: parseOwners(v.owners),
  };
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Only what changed (a URL left alone is not checked again, say, after a policy change). */
export function webhookPatchOf(v: WebhookFormValues, e: WebhookEndpoint): WebhookPatch {
  const b = webhookBodyOf(v);
  const patch: WebhookPatch = {};
  if (b.url !== e.url) patch.url = b.url;
  if (b.description !== e.description) patch.description = b.description;
  if (!sameList(b.event_types, e.event_types)) patch.event_types = b.event_types;
  if (!sameList(b.owners, e.owners)) patch.owners = b.owners;
  return patch;
}

/** A server's refusal naming one of the form's fields ("event_types", "owners[2]"). */
export function webhookFieldOf(field: string | undefined): WebhookField | null {
  const top = field?.split(/[.[]/)[0];
  return top === "url" || top === "description" || top === "event_types" || top === "owners" ? top : null;
}

// ---------- event types

export interface EventFamily {
  /** "key", "credits"… */
  family: string;
  types: EventType[];
}

/** "key.created" → "key"; "owner.ratelimit.exceeded" → "owner" (the server's families). */
export const familyOf = (type: string) => type.split(".")[0] ?? type;

/** The types in the order given, grouped by family (the families in order of first appearance). */
export function eventFamilies(types: EventType[]): EventFamily[] {
  const out: EventFamily[] = [];
  for (const t of types) {
    const f = familyOf(t.type);
    const group = out.find((g) => g.family === f);
    if (group) group.types.push(t);
    else out.push({ family: f, types: [t] });
  }
  return out;
}

/** Whether an endpoint with these filters gets events of `type` (src/model/event.rs `wanted`). */
export function wants(filters: string[], type: string): boolean {
  return (
    filters.length === 0 ||
    filters.some((f) => (f.endsWith(".*") ? type.startsWith(f.slice(0, -1)) : f === type))
  );
}

// ---------- what is shown

export type EndpointState =
  | { kind: "active" }
  | { kind: "failing"; since: string }
  | { kind: "disabled"; reason: string | null };

export function endpointState(e: WebhookEndpoint): EndpointState {
  if (e.disabled) return { kind: "disabled", reason: e.disabled_reason ?? null };
  if (e.failing_since) return { kind: "failing", since: e.failing_since };
  return { kind: "active" };
}

/** The newest attempt, if any. */
export const lastAttempt = (d: Delivery): Attempt | undefined => d.attempts[d.attempts.length - 1];

/** Was this attempt a success (a 2xx answer)? */
export const succeeded = (a: Attempt) => a.status != null && a.status >= 200 && a.status < 300 && !a.error;

/** unix ms → RFC 3339, for the date formatters. */
export const isoOfMs = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A payload pretty-printed; as it is when it is not JSON. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** How long the previous secret keeps signing after a rotation (the server allows 0 to 7 days). */
export const overlapOptions = [
  { seconds: 0, label: "No overlap: the old secret stops signing now" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day (the default)" },
  { seconds: 7 * 86_400, label: "7 days (the longest)" },
] as const;

/** "412 ms", "3.2 s". */
export function durationText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
