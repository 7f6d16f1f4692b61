// Shared test data: one key as the API answers it (a TokenView), to spread and vary.
import type { Limits, Me, Token } from "./lib/schemas";

export const NO_LIMITS: Limits = { rate_limits: [], credits: null };

export const token: Token = {
  id: "k1",
  owner: "alice",
  name: "first",
  hint: "kg_a…",
  status: "active",
  created_at: "2026-05-01T00:00:00Z",
  created_by: "alice",
  expires_at: null,
  disabled: false,
  last_used_at: null,
  rules: [],
  metadata: {},
  replaces: null,
  replaced_by: null,
  grace_until: null,
  limits: NO_LIMITS,
  roles: [],
  permissions: [],
  inherit_owner_roles: true,
};

/** A key with two rate limits and a monthly credit refill. */
export const limitedToken: Token = {
  ...token,
  id: "k2",
  name: "limited",
  limits: {
    rate_limits: [
      { name: "per-minute", limit: 100, window: "1m" },
      { name: "per-hour", limit: 5000, window: "1h" },
    ],
    credits: { remaining: 9950, refill: { amount: 10_000, interval: "monthly" } },
  },
};

export const me: Me = {
  subject: "alice",
  admin: false,
  auth: "oidc",
  single_operator: false,
  may_raise_limits: false,
};
