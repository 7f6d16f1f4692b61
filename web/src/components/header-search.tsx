// Admin: the top bar's key search. Anything the key lists' search takes (a name, a hint,
// an id, `owner:bob`, `team=payments`…); Enter asks the server for at most two matches:
// exactly one opens that key, anything else opens every key with the same search (which
// shows the matches, or says none does). "/" jumps here from anywhere but a field. A
// whole key pasted in is never sent: lib/key-search.ts says why and what is sent instead.
import { useEffect, useId, useRef, useState } from "react";
import { useNavigate } from "react-router-dom";
import { useAuth } from "../lib/auth";
import { keySearch } from "../lib/key-search";
import { keyHref } from "../lib/links";
import { tokenPageSchema } from "../lib/schemas";
import "./console.css";

/** Where every key is listed with `q` searched for. */
export const allKeysHref = (q: string) => (q ? `/admin/keys?${new URLSearchParams({ q }).toString()}` : "/admin/keys");

/** Whether a key press lands in something that takes text (where "/" is just a slash). */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function HeaderSearch() {
  const { api } = useAuth();
  const navigate = useNavigate();
  const [text, setText] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || typing(e.target)) return;
      // Not from under an open dialog: the page behind it is out of reach.
      if (document.querySelector("dialog[open]")) return;
      e.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
    };
  }, []);

  const submit = async () => {
    const search = keySearch(text);
    if (search.kind === "refused") {
      setText("");
      setNote(search.why);
      return;
    }
    const { q } = search;
    // A key pasted in leaves the box at once: what is searched for is what it shows.
    setText(q);
    setNote(search.note ?? "");
    if (!q) {
      void navigate(allKeysHref(""));
      return;
    }
    setBusy(true);
    let to = allKeysHref(q);
    try {
      const page = await api.get(`/api/tokens?${new URLSearchParams({ q, limit: "2" }).toString()}`, tokenPageSchema);
      const [only] = page.tokens;
      if (only && page.tokens.length === 1 && page.next_cursor === undefined) to = keyHref("any", only.id);
    } catch {
      // A search the server cannot read (or no answer): the list page says why, under its box.
    } finally {
      setBusy(false);
    }
    setText("");
    void navigate(to);
  };

  return (
    <form
      role="search"
      aria-label="Keys"
      className="header-search"
      aria-busy={busy}
      onSubmit={(e) => {
        e.preventDefault();
        if (!busy) void submit();
      }}
    >
      <label htmlFor={`${id}-q`} className="visually-hidden">
        Search keys
      </label>
      <input
        ref={input}
        id={`${id}-q`}
        type="search"
        value={text}
        placeholder="Search keys: name, hint, id…"
        autoComplete="off"
        spellCheck={false}
        enterKeyHint="search"
        aria-keyshortcuts="/"
        aria-describedby={`${id}-note`}
        onChange={(e) => {
          setText(e.target.value);
          setNote("");
        }}
      />
      <kbd className="header-search-key" aria-hidden="true">
        /
      </kbd>
      <button type="submit" className="header-search-go" disabled={busy} aria-label="Search">
        <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" focusable="false">
          <circle cx="8.5" cy="8.5" r="5.5" fill="none" stroke="currentColor" strokeWidth="2" />
          <path d="M12.7 12.7 17 17" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
        </svg>
      </button>
      <p id={`${id}-note`} className={note ? "header-search-note" : "visually-hidden"} role="status" aria-live="polite">
        {note}
        {note && (
          <button
            type="button"
            className="icon-button"
            aria-label="Dismiss"
            onClick={() => {
              setNote("");
              input.current?.focus();
            }}
          >
            ×
          </button>
        )}
      </p>
    </form>
  );
}
