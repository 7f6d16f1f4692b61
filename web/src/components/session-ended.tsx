// Said wherever the user is looking (the page, and any open dialog) when the session
// has ended while unsaved input is on screen: they copy what they need, then leave.
import { useEffect, useRef } from "react";
import { useSessionEnded } from "../lib/auth";

export function SessionEndedNotice() {
  const ended = useSessionEnded();
  const ref = useRef<HTMLDivElement>(null);
  // Scroll anchoring would keep the field being edited in view and the notice above it
  // out of sight (in a scrolled dialog): bring the notice into view.
  useEffect(() => {
    // jsdom (the component tests) has no scrollIntoView.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (ended) ref.current?.scrollIntoView?.({ block: "nearest" });
  }, [ended]);
  if (!ended) return null;
  return (
    <div ref={ref} className="notice notice-warn session-ended" role="alert">
      <p>
        <strong>{ended.why}</strong> What is on screen stays until you go: copy anything you need first, it is lost when
        you log in again.
      </p>
      <button type="button" className="button" onClick={ended.leave}>
        Log in again
      </button>
    </div>
  );
}
