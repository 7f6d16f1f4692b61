import { act, render, screen } from "@testing-library/react";
import { Suspense, useState } from "react";
import { describe, expect, it } from "vitest";
import { lazyPage } from "./lazy-page";

/** A page with state of its own: "seen" counts its own clicks, lost if it is mounted again. */
function Hello({ who }: { who: string }) {
  const [seen, setSeen] = useState(0);
  return (
    <p>
      hello {who}{" "}
      <button
        type="button"
        onClick={() => {
          setSeen(seen + 1);
        }}
      >
        seen {seen}
      </button>
    </p>
  );
}

/** A page module that loads when `release` is called. */
function deferred() {
  let release: () => void = () => undefined;
  let loads = 0;
  const page = lazyPage<{ who: string }>(() => {
    loads++;
    return new Promise((resolve) => {
      release = () => {
        resolve(Hello);
      };
    });
  });
  return {
    page,
    release: () => {
      release();
    },
    loads: () => loads,
  };
}

function Counter({ Page }: { Page: (p: { who: string }) => React.JSX.Element }) {
  const [n, setN] = useState(0);
  return (
    <>
      <button
        type="button"
        onClick={() => {
          setN(n + 1);
        }}
      >
        again {n}
      </button>
      <Page who={`ann ${String(n)}`} />
    </>
  );
}

describe("lazyPage", () => {
  it("suspends while its code loads, then renders", async () => {
    const d = deferred();
    render(
      <Suspense fallback={<p>loading</p>}>
        <d.page who="ann" />
      </Suspense>,
    );
    expect(screen.getByText("loading")).toBeInTheDocument();
    await act(async () => {
      d.release();
      await Promise.resolve();
    });
    expect(await screen.findByText(/hello ann/)).toBeInTheDocument();
    expect(d.loads()).toBe(1);
  });

  it("renders at once, without a fallback, once preloaded, and loads its code once", async () => {
    const d = deferred();
    const preloaded = d.page.preload();
    await act(async () => {
      d.release();
      await preloaded;
    });
    await d.page.preload();
    render(
      <Suspense fallback={<p>loading</p>}>
        <Counter Page={d.page} />
      </Suspense>,
    );
    expect(screen.queryByText("loading")).not.toBeInTheDocument();
    expect(screen.getByText(/hello ann 0/)).toBeInTheDocument();
    screen.getByRole("button", { name: "again 0" }).click();
    expect(await screen.findByText(/hello ann 1/)).toBeInTheDocument();
    expect(d.loads()).toBe(1);
  });

  it("keeps a page that suspended mounted when it renders again after loading", async () => {
    const d = deferred();
    render(
      <Suspense fallback={<p>loading</p>}>
        <Counter Page={d.page} />
      </Suspense>,
    );
    await act(async () => {
      d.release();
      await Promise.resolve();
    });
    expect(await screen.findByText(/hello ann 0/)).toBeInTheDocument();
    await act(async () => {
      screen.getByRole("button", { name: "seen 0" }).click();
      await Promise.resolve();
    });
    await act(async () => {
      screen.getByRole("button", { name: "again 0" }).click();
      await Promise.resolve();
    });
    // The page's own state is still there: it was not mounted again as the loaded page.
    expect(screen.getByText(/hello ann 1/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "seen 1" })).toBeInTheDocument();
  });

  it("tries a failed load again", async () => {
    let attempt = 0;
    const page = lazyPage<object>(() => {
      attempt++;
      return attempt === 1 ? Promise.reject(new Error("chunk gone")) : Promise.resolve(() => <p>second</p>);
    });
    await expect(page.preload()).rejects.toThrow("chunk gone");
    await page.preload();
    expect(attempt).toBe(2);
  });
});
