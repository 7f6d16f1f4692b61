// Previous / page / next under a long list. The list's rows are the page; this only
// reports which page the user asks for.
import "./key-list.css";

export function Pager({
  page,
  pages,
  onPage,
  label,
}: {
  page: number;
  pages: number;
  onPage: (page: number) => void;
  /** The navigation landmark's name, e.g. "Pages of keys". */
  label: string;
}) {
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label={label}>
      <button
        type="button"
        className="button"
        disabled={page <= 1}
        onClick={() => {
          onPage(page - 1);
        }}
      >
        <span aria-hidden="true">‹ </span>Previous
      </button>
      <label className="pager-page">
        Page{" "}
        <select
          value={page}
          onChange={(e) => {
            onPage(Number(e.target.value));
          }}
        >
          {Array.from({ length: pages }, (_, i) => (
            <option key={i + 1} value={i + 1}>
              {i + 1}
            </option>
          ))}
        </select>{" "}
        of {pages}
      </label>
      <button
        type="button"
        className="button"
        disabled={page >= pages}
        onClick={() => {
          onPage(page + 1);
        }}
      >
        Next<span aria-hidden="true"> ›</span>
      </button>
    </nav>
  );
}
