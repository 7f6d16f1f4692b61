// A rule's HTTP methods, as checkboxes (part of the key form).
import { COMMON_METHODS, HTTP_METHODS } from "../lib/key-form-model";

/**
 * A rule's methods, ticked from the HTTP methods keygate knows: the common ones first,
 * the rest behind "More methods" (open when one of them is chosen). A stored method
 * keygate no longer accepts shows too, so that it can be unticked.
 */
export function MethodChoice({
  id,
  chosen,
  error,
  onChange,
}: {
  id: string;
  chosen: string[];
  error: string | undefined;
  onChange: (methods: string[]) => void;
}) {
  const known = HTTP_METHODS as readonly string[];
  const common = COMMON_METHODS as readonly string[];
  const more = known.filter((m) => !common.includes(m));
  const unknown = chosen.filter((m) => !known.includes(m));
  const box = (m: string) => (
    <div className="checkbox method" key={m}>
      <input
        id={`${id}-${m}`}
        type="checkbox"
        checked={chosen.includes(m)}
        onChange={(e) => {
          onChange(e.target.checked ? [...chosen, m] : chosen.filter((x) => x !== m));
        }}
      />
      <label htmlFor={`${id}-${m}`}>{m}</label>
    </div>
  );
  return (
    <fieldset
      className={error ? "methods field-invalid" : "methods"}
      aria-describedby={error ? `${id}-err` : `${id}-hint`}
    >
      <legend>Methods</legend>
      <p className="hint" id={`${id}-hint`}>
        None ticked: any method.
      </p>
      <div className="method-choices">
        {common.map(box)}
        {unknown.map(box)}
      </div>
      <details open={chosen.some((m) => more.includes(m))}>
        <summary>More methods</summary>
        <div className="method-choices">{more.map(box)}</div>
      </details>
      {error && (
        <p className="field-error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </fieldset>
  );
}
