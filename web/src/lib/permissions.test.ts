import { describe, expect, it } from "vitest";
import {
  type Grantable,
  covers,
  holdersOf,
  holdersText,
  permissionError,
  roleNameError,
  sourceLabel,
  whyNotGrantable,
} from "./permissions";

describe("permission names", () => {
  it.each(["billing.read", "docs.*", "*", "repo:42.write", "a-b_c", "*.read", "x".repeat(128)])("accepts %s", (p) => {
    expect(permissionError(p)).toBeNull();
  });

  it.each([
    ["", /Type a permission/],
    ["x".repeat(129), /128/],
    [Array(17).fill("a").join("."), /16 parts/],
    ["docs.", /doubled/],
    [".docs", /doubled/],
    ["docs..read", /doubled/],
    ["docs*", /stands alone/],
    ["docs.re ad", /letters, digits/],
    ["docs/read", /letters, digits/],
    ["dócs", /letters, digits/],
  ])("refuses %j", (p, why) => {
    expect(permissionError(p)).toMatch(why);
  });
});

describe("role names", () => {
  it.each(["docs-reader", "a", "Team.ops:1", "9lives", "x".repeat(64)])("accepts %s", (n) => {
    expect(roleNameError(n)).toBeNull();
  });

  it.each([
    ["", /Give the role a name/],
    ["-ops", /Start with a letter or a digit/],
    [".ops", /Start with/],
    ["docs reader", /only/],
    ["docs*", /only/],
    ["x".repeat(65), /64/],
  ])("refuses %j", (n, why) => {
    expect(roleNameError(n)).toMatch(why);
  });
});

describe("what a grant covers", () => {
  it.each([
    ["billing.read", "billing.read", true],
    ["billing.*", "billing.read", true],
    ["billing.*", "billing.invoices.read", true],
    ["billing.*", "billing", false],
    ["*", "anything.at.all", true],
    ["*", "*", true],
    ["*.read", "docs.read", true],
    ["*.read", "docs.write", false],
    ["*.read", "docs.v2.read", false],
    ["docs.*.read", "docs.v2.read", true],
    ["docs.*.read", "docs.v2.v3.read", false],
    ["billing.read", "billing.*", false],
    ["billing.*", "billing.*", true],
    ["docs.read", "docs.read.more", false],
    ["docs.read.more", "docs.read", false],
    ["Docs.read", "docs.read", false],
  ] as const)("%s covers %s: %s", (grant, wanted, expected) => {
    expect(covers(grant, wanted)).toBe(expected);
  });
});

describe("what a user may attach", () => {
  const user: Grantable = {
    any: false,
    roles: [{ name: "docs-reader", description: "", permissions: ["docs.read", "billing.*"] }],
    permissions: ["billing.*", "docs.read"],
    self: true,
    owner: "dora",
    ownerRoles: ["docs-reader"],
  };

  it("a permission one of their roles' permissions covers", () => {
    expect(whyNotGrantable("docs.read", user, [])).toBeNull();
    expect(whyNotGrantable("billing.invoices.read", user, [])).toBeNull();
  });

  it("not a wider one, and says what would be covered", () => {
    expect(whyNotGrantable("docs.write", user, [])).toBe(
      "You may not attach “docs.write”: none of your roles’ permissions covers it (billing.*, docs.read).",
    );
    expect(whyNotGrantable("docs.*", user, [])).toMatch(/none of your roles’ permissions covers it/);
  });

  it("what the key had already, even when not covered", () => {
    expect(whyNotGrantable("ops.deploy", user, ["ops.deploy"])).toBeNull();
  });

  it("nothing, when their roles grant nothing; anything, for an admin", () => {
    expect(whyNotGrantable("docs.read", { ...user, permissions: [], roles: [] }, [])).toMatch(/grant no permissions/);
    expect(whyNotGrantable("ops.*", { ...user, any: true, permissions: [] }, [])).toBeNull();
  });

  it("never a malformed name", () => {
    expect(whyNotGrantable("docs*", { ...user, any: true }, [])).toMatch(/stands alone/);
  });
});

describe("sources and holders", () => {
  it("reads a permission's source", () => {
    expect(sourceLabel("key").text).toBe("this key");
    expect(sourceLabel("role:ops")).toEqual({ kind: "role", text: "role ops", role: "ops" });
    expect(sourceLabel("owner-role:docs-reader")).toEqual({
      kind: "owner-role",
      text: "owner’s role docs-reader",
      role: "docs-reader",
    });
    expect(sourceLabel("config").text).toBe("config");
  });

  it("counts a role's holders from the server's message", () => {
    const h = holdersOf("the role is held by 3 key(s) and 1 owner(s); delete it with detach=true");
    expect(h).toEqual({ keys: 3, owners: 1 });
    expect(holdersText(h)).toBe("3 keys and 1 owner");
    expect(holdersText(holdersOf("held by 0 key(s) and 2 owner(s)"))).toBe("2 owners");
    expect(holdersText(holdersOf("held by 1 key(s) and 0 owner(s)"))).toBe("1 key");
    expect(holdersOf("in use")).toBeNull();
    expect(holdersText(null)).toBeNull();
  });
});
