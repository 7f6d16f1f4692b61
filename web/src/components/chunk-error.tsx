// Instead of a white page when a part of the app cannot be loaded (keygate is down,
// or was upgraded while the tab was open, so the old asset names are gone) or a page
// fails to render: what happened, and a button that reloads the app.
import { Component, type ErrorInfo, type ReactNode } from "react";
import "./trust.css";

/** A lazily loaded chunk that did not arrive (the messages of Chromium, Firefox, Safari, Vite). */
export function isChunkLoadError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return (
    e.name === "ChunkLoadError" ||
    /Failed to fetch dynamically imported module|error loading dynamically imported module|Importing a module script failed|Unable to preload CSS/i.test(
      e.message,
    )
  );
}

export function LoadFailure({ error, onReload }: { error: unknown; onReload: () => void }) {
  const chunk = isChunkLoadError(error);
  return (
    <div className="notice notice-error load-failure" role="alert">
      <h1>{chunk ? "This page could not be loaded" : "Something went wrong on this page"}</h1>
      <p>
        {chunk
          ? "keygate could not be reached, or it was upgraded since this tab was opened. Reload to get the current version; if keygate is down, try again in a moment."
          : `The page stopped with an error: ${error instanceof Error ? error.message : String(error)}. Reloading usually helps.`}
      </p>
      <button type="button" className="button button-primary" onClick={onReload}>
        Reload
      </button>
    </div>
  );
}

interface Props {
  children: ReactNode;
  /** Changes (e.g. the route) clear a caught error. */
  resetKey?: string;
  onReload?: () => void;
}

export class ChunkErrorBoundary extends Component<Props, { error: unknown; key: string | undefined }> {
  override state = { error: null as unknown, key: this.props.resetKey };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  static getDerivedStateFromProps(props: Props, state: { error: unknown; key: string | undefined }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.warn("keygate UI: a page failed", error, info.componentStack);
  }

  override render() {
    if (this.state.error !== null) {
      return (
        <LoadFailure
          error={this.state.error}
          onReload={
            this.props.onReload ??
            (() => {
              window.location.reload();
            })
          }
        />
      );
    }
    return this.props.children;
  }
}
