// The create/edit form's values, their validation (the same limits the server checks,
// so mistakes show next to the field before anything is sent) and the request body.
import { type ExpiryPreset, dateOnly, expiryOf, localMidnight } from "./format";
import {
  type LimitsValues,
  emptyLimits,
  limitsOf,
  limitsPatch,
  limitsValuesOf,
  validateLimits,
} from "./limits-model";
import { PERMISSION_BOUNDS, permissionError } from "./permissions";
import type { Limits, LimitsPatch, Rule, Token } from "./schemas";

export interface RuleRow {
  hosts: string;
  paths: string;
  /** Chosen from HTTP_METHODS (upper case); none: any method. */
  methods: string[];
}

/** The methods new rules may name: the server's KNOWN_METHODS (src/rules.rs), in its order. */
export const HTTP_METHODS = [
  "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
  "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
  "MKCALENDAR", "ACL", "BIND", "UNBIND", "REBIND", "MERGE", "LABEL", "UPDATE", "CHECKIN",
  "CHECKOUT", "UNCHECKOUT", "MKWORKSPACE", "MKACTIVITY", "ORDERPATCH", "LINK", "UNLINK", "PURGE",
] as const;

/** The methods offered first; the rest of HTTP_METHODS sit behind "More methods". */
export const COMMON_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

export const emptyRule = (): RuleRow => ({ hosts: "", paths: "", methods: [] });

export interface MetaRow {
  key: string;
  value: string;
}

export interface KeyFormValues {
  name: string;
  expiry: ExpiryPreset;
  /** yyyy-mm-dd when expiry is "custom". */
  customDate: string;
  rules: RuleRow[];
  metadata: MetaRow[];
  disabled: boolean;
  /**
   * Create: false leaves the limits to the server's defaults for new keys (nothing is
   * sent); true sends `limits`. Always true when editing.
   */
  setLimits: boolean;
  limits: LimitsValues;
  /** Roles attached to the key. */
  roles: string[];
  /** Permissions attached to the key directly. */
  permissions: string[];
  /** The key also holds its owner's roles' permissions. */
  inheritOwnerRoles: boolean;
}

/** Field path → message, e.g. "name", "rules.0.hosts", "metadata.1.key", "limits.rateLimits.0.name". */
export type FormErrors = Record<string, string>;

export const LIMITS = { name: 100, rules: 32, patterns: 32, metadata: 16, metaKey: 64, metaValue: 512 } as const;

export const emptyForm = (): KeyFormValues => ({
  name: "",
  expiry: "30d",
  customDate: "",
  rules: [],
  metadata: [],
  disabled: false,
  setLimits: false,
  limits: emptyLimits(),
  roles: [],
  permissions: [],
  inheritOwnerRoles: true,
});

export function formOf(t: Token): KeyFormValues {
  return {
    name: t.name,
    expiry: t.expires_at ? "keep" : "never",
    customDate: t.expires_at ? dateOnly(t.expires_at) : "",
    rules: t.rules.map((r) => ({ hosts: r.hosts.join(", "), paths: r.paths.join(", "), methods: r.methods.map((m) => m.toUpperCase()) })),
    metadata: Object.entries(t.metadata).map(([key, value]) => ({ key, value })),
    disabled: t.disabled,
    setLimits: true,
    limits: limitsValuesOf(t.limits),
    roles: [...t.roles],
    permissions: [...t.permissions],
    inheritOwnerRoles: t.inherit_owner_roles,
  };
}

export const splitList = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const HOST = /^[A-Za-z0-9.\-_*]{1,253}$/;
const META_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A host name or a glob such as `*.example.com`, as the server checks new rules
 * (src/rules.rs, HostPattern::parse and check_labels): letters, digits, `.`, `-`, `_`
 * and `*`; dot-separated labels of 1–63 characters, none starting or ending with `-`.
 */
export function hostError(h: string): string | null {
  if (h.includes("://") || h.includes("/") || h.includes(":")) {
    return `“${h}”: a host only, without scheme, port or path`;
  }
  if (!HOST.test(h)) return `“${h}”: letters, digits, “.”, “-”, “_” and “*” only`;
  if (h === "*") return null;
  for (const label of h.split(".")) {
    if (!label) return `“${h}”: a host name such as api.example.com or *.example.com (no leading, trailing or doubled “.”)`;
    if (label.length > 63) return `“${h}”: a part between dots is longer than 63 characters`;
    if (label.startsWith("-") || label.endsWith("-")) return `“${h}”: a part between dots starts or ends with “-”`;
  }
  return null;
}

const methodError = (m: string): string | null =>
  (HTTP_METHODS as readonly string[]).includes(m) ? null : `“${m}” is not an HTTP method keygate knows`;

function pathError(p: string): string | null {
  if (!p.startsWith("/")) return `“${p}” must start with /`;
  if (p.length > 512) return "at most 512 characters";
  if (p.includes("?") || p.includes("#")) return `“${p}”: no query or fragment`;
  if (!/^[\x21-\x7e]+$/.test(p)) return `“${p}”: no spaces or non-ASCII characters`;
  return null;
}

/** Every problem with the values, by field; empty when they can be sent. */
export function validateKeyForm(v: KeyFormValues, now: number = Date.now()): FormErrors {
  const errors: FormErrors = {};
  const name = v.name.trim();
  if (!name) errors.name = "Give the key a name, so you know later what it is for.";
  else if (Array.from(name).length > LIMITS.name) errors.name = `At most ${LIMITS.name} characters.`;
  else if (CONTROL.test(name)) errors.name = "No control characters.";

  if (v.expiry === "custom") {
    const at = localMidnight(v.customDate);
    if (!v.customDate) errors.customDate = "Pick the day the key stops working.";
    else if (at === null) errors.customDate = "Not a date.";
    else if (Date.parse(at) <= now) errors.customDate = "Pick a day in the future.";
  }

  if (v.rules.length > LIMITS.rules) errors.rules = `At most ${LIMITS.rules} rules.`;
  v.rules.forEach((r, i) => {
    const hosts = splitList(r.hosts);
    const paths = splitList(r.paths);
    const methods = r.methods;
    if (!hosts.length && !paths.length && !methods.length) {
      errors[`rules.${i}`] = "Fill in hosts, paths or methods, or remove this rule.";
    }
    for (const [field, list, check] of [
      ["hosts", hosts, hostError],
      ["paths", paths, pathError],
      ["methods", methods, methodError],
    ] as const) {
      if (list.length > LIMITS.patterns) errors[`rules.${i}.${field}`] = `At most ${LIMITS.patterns}.`;
      const bad = list.map(check).find((e) => e !== null);
      if (bad) errors[`rules.${i}.${field}`] = bad;
    }
  });

  if (v.metadata.length > LIMITS.metadata) errors.metadata = `At most ${LIMITS.metadata} entries.`;
  const seen = new Set<string>();
  v.metadata.forEach((m, i) => {
    if (!META_KEY.test(m.key)) errors[`metadata.${i}.key`] = "1–64 letters, digits, “_”, “.” or “-”.";
    else if (seen.has(m.key)) errors[`metadata.${i}.key`] = `“${m.key}” is already used.`;
    seen.add(m.key);
    if (new TextEncoder().encode(m.value).length > LIMITS.metaValue) {
      errors[`metadata.${i}.value`] = `At most ${LIMITS.metaValue} bytes.`;
    } else if (CONTROL.test(m.value)) errors[`metadata.${i}.value`] = "No control characters.";
  });
  if (v.setLimits) Object.assign(errors, validateLimits(v.limits, "limits."));

  if (v.roles.length > PERMISSION_BOUNDS.keyRoles) errors.roles = `At most ${PERMISSION_BOUNDS.keyRoles} roles.`;
  if (v.permissions.length > PERMISSION_BOUNDS.keyPermissions) {
    errors.permissions = `At most ${PERMISSION_BOUNDS.keyPermissions} permissions.`;
  } else {
    const bad = v.permissions.map(permissionError).find((e) => e !== null);
    if (bad) errors.permissions = bad;
  }
  return errors;
}

function rulesOf(v: KeyFormValues): Rule[] {
  return v.rules.map((r) => ({
    hosts: splitList(r.hosts),
    paths: splitList(r.paths),
    // In the usual order, whatever order they were ticked in.
    methods: (HTTP_METHODS as readonly string[])
      .filter((m) => r.methods.includes(m))
      .concat(r.methods.filter((m) => !(HTTP_METHODS as readonly string[]).includes(m))),
  }));
}

export interface CreateBody {
  name: string;
  expires_at: string | null;
  rules: Rule[];
  metadata: Record<string, string>;
  /** Absent: the server's defaults for new keys. */
  limits?: Limits;
  /** Absent: none. */
  roles?: string[];
  permissions?: string[];
  /** Absent: true. */
  inherit_owner_roles?: boolean;
}

/** What a key holds besides its rules: its roles, its own permissions, whether it inherits. */
export interface KeyGrants {
  roles: string[];
  permissions: string[];
  inherit_owner_roles: boolean;
}

const NO_GRANTS: KeyGrants = { roles: [], permissions: [], inherit_owner_roles: true };

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

/**
 * The fields of `v` that differ from `was`: unchanged ones are left out, so a key that
 * holds nothing (and an older server) sees the body it always did.
 */
function grantsOf(v: KeyFormValues, was: KeyGrants): Partial<KeyGrants> {
  const out: Partial<KeyGrants> = {};
  if (!sameSet(v.roles, was.roles)) out.roles = v.roles;
  if (!sameSet(v.permissions, was.permissions)) out.permissions = v.permissions;
  if (v.inheritOwnerRoles !== was.inherit_owner_roles) out.inherit_owner_roles = v.inheritOwnerRoles;
  return out;
}

function commonOf(v: KeyFormValues, now: number) {
  return {
    name: v.name.trim(),
    expires_at: v.expiry === "keep" ? null : expiryOf(v.expiry, v.customDate, now),
    rules: rulesOf(v),
    metadata: Object.fromEntries(v.metadata.map((m) => [m.key, m.value])),
  };
}

export function createBody(v: KeyFormValues, now: number = Date.now()): CreateBody {
  const body: CreateBody = commonOf(v, now);
  if (v.setLimits) body.limits = limitsOf(v.limits);
  return { ...body, ...grantsOf(v, NO_GRANTS) };
}

export interface PatchBody {
  name: string;
  /** Absent: unchanged; null: never expires. */
  expires_at?: string | null;
  rules: Rule[];
  metadata: Record<string, string>;
  disabled: boolean;
  /** Absent: unchanged; otherwise only the parts that changed (see LimitsPatch). */
  limits?: LimitsPatch;
  /** Absent: unchanged; present: replaces the list. */
  roles?: string[];
  permissions?: string[];
  inherit_owner_roles?: boolean;
}

/**
 * A PATCH body: everything the form edits; of the limits only what differs from
 * `original`, of the roles and permissions only what differs from `was`.
 */
export function patchBody(
  v: KeyFormValues,
  original: Limits,
  now: number = Date.now(),
  was: KeyGrants = NO_GRANTS,
): PatchBody {
  const { expires_at, ...rest } = commonOf(v, now);
  const body: PatchBody = v.expiry === "keep" ? { ...rest, disabled: v.disabled } : { ...rest, expires_at, disabled: v.disabled };
  const limits = limitsPatch(v.limits, original);
  if (limits) body.limits = limits;
  return { ...body, ...grantsOf(v, was) };
}
