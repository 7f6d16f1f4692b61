// What the header's key search sends for what was typed: the text as the server's `q`,
// except that a whole key pasted in is never sent anywhere. The search is for finding a
// key by what the console shows of it; a secret pasted by mistake (from a log, a chat)
// would otherwise land in a URL, the browser's history, keygate's access log and any
// proxy's. So a word shaped like a key is replaced, here in the browser, by the hint
// keygate shows for that key (`kg_AbCd…wxyz`, which is all the console ever shows of it
// and far too little to use it), and the search asks for that hint instead.

/**
 * A keygate key: `{prefix}_` then 49 base62 characters (43 random, 6 of checksum). The
 * prefix is the deployment's (`kg` by default, 1–16 of a-z 0-9) and the UI is not told
 * it, so any prefix of that shape counts.
 */
const KEYGATE_KEY = /^[a-z0-9]{1,16}_[0-9A-Za-z]{49}$/;

/** keygate's own admin key (single-operator mode): never searched for, not even by hint. */
const ADMIN_KEY = /^kgadmin_[0-9A-Za-z]{20,}$/;

/**
 * Imported ("foreign") keys can have any shape. A single word this long, with letters
 * and digits and none of the search's syntax (`:` `=`), is taken for one: ids are 16
 * characters (imported ones up to 64, found with `id:` all the same), names and
 * metadata values are rarely so long and unbroken.
 */
const FOREIGN_MIN = 40;

/** The hint keygate shows for `key`: the same rule as the server's (src/token.rs `hint`). */
export function hintOf(key: string): string {
  const cut = key.indexOf("_");
  const [head, body] = cut > 0 && key.length - cut - 1 >= 12 ? [key.slice(0, cut + 1), key.slice(cut + 1)] : ["", key];
  // Code points, as the server's `chars()` counts them.
  const chars = Array.from(body);
  if (chars.length < 12) return `${head}…`;
  return `${head}${chars.slice(0, 4).join("")}…${chars.slice(-4).join("")}`;
}

function looksLikeKey(word: string): boolean {
  if (KEYGATE_KEY.test(word)) return true;
  return word.length >= FOREIGN_MIN && !/[:=\s]/.test(word) && /[0-9]/.test(word) && /[A-Za-z]/.test(word);
}

export type KeySearch =
  | { kind: "search"; q: string; note?: string }
  /** Nothing is sent: why. */
  | { kind: "refused"; why: string };

/** What to ask the server for `text` (see the top of this file). */
export function keySearch(text: string): KeySearch {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const hints: string[] = [];
  const q: string[] = [];
  for (const word of words) {
    // Quotes and a leading "-" are search syntax: what they wrap is looked at too.
    const bare = word.replace(/"/g, "").replace(/^-/, "");
    if (ADMIN_KEY.test(bare))
      return {
        kind: "refused",
        why: "That is keygate’s admin key: it was not searched for, nor sent anywhere. Search for a key by its name, hint, id or metadata.",
      };
    if (looksLikeKey(bare)) {
      const hint = hintOf(bare);
      hints.push(hint);
      q.push(`${word.startsWith("-") ? "-" : ""}hint:${hint}`);
    } else q.push(word);
  }
  const joined = q.join(" ");
  if (hints.length === 0) return { kind: "search", q: joined };
  return {
    kind: "search",
    q: joined,
    note: `That looked like a whole key: only its hint, ${hints.join(", ")}, was searched for; the key itself never left this browser. Paste the hint, not the key (and if the key was shared by mistake, rotate it).`,
  };
}
