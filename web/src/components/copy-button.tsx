import { useState } from "react";

/** Copies `text`; says whether it worked, to screen readers too. */
export function CopyButton({ text, label = "Copy", onCopied }: { text: string; label?: string; onCopied?: () => void }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <span className="copy">
      <button
        type="button"
        className="button"
        onClick={() => {
          navigator.clipboard.writeText(text).then(
            () => {
              setState("copied");
              onCopied?.();
            },
            () => {
              setState("failed");
            },
          );
        }}
      >
        {label}
      </button>
      <span className="copy-state" role="status" aria-live="polite">
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select the text and copy it yourself" : ""}
      </span>
    </span>
  );
}
