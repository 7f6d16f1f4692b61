// Pages loaded when first needed that can also be loaded ahead: the page a visit starts
// on (beside the UI settings), and the console's pages once the user is known to be an
// administrator. A page already loaded renders at once, without suspending: React 19
// holds a Suspense boundary's content back for up to 300 ms after its fallback showed,
// so a page that suspended even for 10 ms showed its first rows 300 ms late.
import { type ComponentType, type JSX, lazy, useState } from "react";

export interface LazyPage<P> {
  (props: P): JSX.Element;
  /** Loads the page's code (once); resolves when it can render without suspending. */
  preload: () => Promise<unknown>;
}

export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>): LazyPage<P> {
  let ready: ComponentType<P> | undefined;
  let loading: Promise<ComponentType<P>> | undefined;
  const preload = () => {
    loading ??= load().then(
      (c) => {
        ready = c;
        return c;
      },
      (e: unknown) => {
        // A failed load (a deploy replaced the chunk, a blip) may be tried again.
        loading = undefined;
        throw e;
      },
    );
    return loading;
  };
  const Suspending = lazy(async () => ({ default: await preload() }));
  const Page = (props: P) => {
    // Chosen once per mount, so that a mounted page never changes its component type.
    const [C] = useState<ComponentType<P>>(() => ready ?? Suspending);
    return <C {...props} />;
  };
  Page.preload = preload;
  return Page;
}

/** Starts `pages` loading, quietly: a failure shows when the page is opened. */
export function preloadPages(pages: readonly { preload: () => Promise<unknown> }[]) {
  for (const p of pages) void p.preload().catch(() => undefined);
}
