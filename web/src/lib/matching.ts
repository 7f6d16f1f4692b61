// "Select all N matching": the keys a list matches beyond the pages it has, fetched
// page after page (the server's cursors, as many a request as it allows) so that a bulk
// change reaches every one of them, and how many there are when the server does not say.
import type { Token, TokenPage } from "./schemas";

/**
 * Every key on the pages after `cursor`, following each page's `next_cursor` to the
 * last; `onProgress` hears how many were fetched so far. No cursor: nothing is left.
 */
export async function restOfPages(
  getPage: (cursor: string) => Promise<TokenPage>,
  cursor: string | undefined,
  onProgress?: (fetched: number) => void,
): Promise<Token[]> {
  const out: Token[] = [];
  const seen = new Set<string>();
  let next = cursor;
  while (next !== undefined) {
    // A cursor handed back twice would loop for ever.
    if (seen.has(next)) throw new Error("keygate handed back a page cursor it had already given");
    seen.add(next);
    const page = await getPage(next);
    out.push(...page.tokens);
    onProgress?.(out.length);
    next = page.next_cursor;
  }
  return out;
}

/** `extra` after `tokens`, without the keys `tokens` has already. */
export function withExtra(tokens: Token[], extra: Token[]): Token[] {
  if (extra.length === 0) return tokens;
  const have = new Set(tokens.map((t) => t.id));
  return [...tokens, ...extra.filter((t) => !have.has(t.id))];
}
