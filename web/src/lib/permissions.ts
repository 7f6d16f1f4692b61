// Permission and role names as the server checks them (the contract of issue 25), the
// wildcard rule that says which grant covers which permission, and how a permission's
// source reads. Checked here so a mistake shows at once next to the field; the server
// checks again and has the last word.

/** Bounds from the contract: names, and how many a key, a role or an owner may hold. */
export const PERMISSION_BOUNDS = {
  permission: 128,
  segments: 16,
  roleName: 64,
  description: 500,
  rolePermissions: 256,
  keyRoles: 64,
  keyPermissions: 256,
  ownerRoles: 64,
} as const;

const SEGMENT = /^[A-Za-z0-9_:-]+$/;
const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** Why `p` is not a permission name, or null when it is one. */
export function permissionError(p: string): string | null {
  if (p === "") return "Type a permission, such as docs.read.";
  if (p.length > PERMISSION_BOUNDS.permission) return `At most ${PERMISSION_BOUNDS.permission} characters.`;
  const segments = p.split(".");
  if (segments.length > PERMISSION_BOUNDS.segments) return `At most ${PERMISSION_BOUNDS.segments} parts between dots.`;
  if (segments.some((s) => s === "")) return `“${p}”: no leading, trailing or doubled “.”.`;
  const bad = segments.find((s) => s !== "*" && !SEGMENT.test(s));
  if (bad !== undefined) {
    return bad.includes("*")
      ? `“${p}”: “*” stands alone between dots (docs.*, not docs*).`
      : `“${p}”: letters, digits, “_”, “:” and “-” between the dots, or “*”.`;
  }
  return null;
}

/** Why `name` is not a role name, or null when it is one. */
export function roleNameError(name: string): string | null {
  if (name === "") return "Give the role a name, such as docs-reader.";
  if (name.length > PERMISSION_BOUNDS.roleName) return `At most ${PERMISSION_BOUNDS.roleName} characters.`;
  if (!/^[A-Za-z0-9]/.test(name)) return "Start with a letter or a digit.";
  if (!ROLE_NAME.test(name)) return "Letters, digits, “_”, “.”, “:” and “-” only.";
  return null;
}

/**
 * Whether the grant `grant` covers `wanted`: segment by segment, a `*` in the grant
 * matches any one segment, and a trailing `*` one or more. A `*` in `wanted` is only
 * matched by a `*` (a grant of `billing.read` does not cover `billing.*`).
 */
export function covers(grant: string, wanted: string): boolean {
  const g = grant.split(".");
  const w = wanted.split(".");
  for (let i = 0; i < g.length; i++) {
    const seg = g[i];
    if (seg === "*" && i === g.length - 1) return w.length > i;
    const other = w[i];
    if (other === undefined) return false;
    if (seg !== "*" && seg !== other) return false;
  }
  return g.length === w.length;
}

/** The first of `grants` that covers `wanted`, if any. */
export const coveringGrant = (grants: readonly string[], wanted: string): string | undefined =>
  grants.find((g) => covers(g, wanted));

/** "key" → "this key", "role:x" → "role x", "owner-role:x" → "owner’s role x". */
export function sourceLabel(source: string): { kind: "key" | "role" | "owner-role" | "other"; text: string; role?: string } {
  if (source === "key") return { kind: "key", text: "this key" };
  if (source.startsWith("owner-role:")) {
    const role = source.slice("owner-role:".length);
    return { kind: "owner-role", text: `owner’s role ${role}`, role };
  }
  if (source.startsWith("role:")) {
    const role = source.slice("role:".length);
    return { kind: "role", text: `role ${role}`, role };
  }
  return { kind: "other", text: source };
}

/**
 * How many keys and owners hold a role, from the server's 409 `role_in_use` message
 * ("the role is held by 3 key(s) and 1 owner(s); …"): null when it does not say in a
 * way we can read.
 */
export function holdersOf(message: string): { keys: number; owners: number } | null {
  const keys = /(\d+)\s+keys?\b/.exec(message);
  const owners = /(\d+)\s+owners?\b/.exec(message);
  if (!keys && !owners) return null;
  return { keys: Number(keys?.[1] ?? 0), owners: Number(owners?.[1] ?? 0) };
}

/** "3 keys and 1 owner", leaving out a zero; null when there is nothing to say. */
export function holdersText(h: { keys: number; owners: number } | null): string | null {
  if (h === null) return null;
  const parts = [
    h.keys ? `${h.keys} ${h.keys === 1 ? "key" : "keys"}` : "",
    h.owners ? `${h.owners} ${h.owners === 1 ? "owner" : "owners"}` : "",
  ].filter(Boolean);
  return parts.length ? parts.join(" and ") : null;
}

/** A role that may be attached, as GET /api/me/grants lists it. */
export interface OfferedRole {
  name: string;
  description: string;
  permissions: string[];
}

/** What the key form may offer for a key: from GET /api/me/grants, or (admin, someone else's key) every role. */
export interface Grantable {
  /** Anything may be attached (an admin). */
  any: boolean;
  /** The roles offered. */
  roles: OfferedRole[];
  /** Without `any`: a permission added must be covered by one of these. */
  permissions: string[];
  /** My own keys (the form says "my roles"), or an owner's (admin). */
  self: boolean;
  /** Whose keys (a subject). */
  owner: string;
  /** The roles the key would inherit (null: not known). */
  ownerRoles: string[] | null;
}

/** Why `p` may not be added to a key that had `had`, or null when it may. */
export function whyNotGrantable(p: string, g: Grantable, had: readonly string[]): string | null {
  const syntax = permissionError(p);
  if (syntax) return syntax;
  if (g.any || had.includes(p)) return null;
  if (g.permissions.length === 0) {
    return `You may not attach “${p}”: your roles grant no permissions. Ask an administrator for a role that does.`;
  }
  if (coveringGrant(g.permissions, p) === undefined) {
    return `You may not attach “${p}”: none of your roles’ permissions covers it (${g.permissions.join(", ")}).`;
  }
  return null;
}
