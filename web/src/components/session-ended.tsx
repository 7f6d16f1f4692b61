// Said wherever the user is looking (the page, and any open dialog) when the session
// has ended while unsaved input is on screen: they copy what they need, then leave.
import { useSessionEnded } from "../lib/auth";

export function SessionEndedNotice() {
  const ended = useSessionEnded();
  if (!ended) return null;
  return (
    <div className="notice notice-warn session-ended" role="alert">
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
