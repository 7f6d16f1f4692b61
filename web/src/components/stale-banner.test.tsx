import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { absolute } from "../lib/format";
import { ChunkErrorBoundary, isChunkLoadError } from "./chunk-error";
import { StaleBanner, isStale } from "./stale-banner";

describe("the stale banner", () => {
  it("says the refresh failed, why, and since when the data is", async () => {
    const onRetry = vi.fn();
    const at = Date.parse("2026-06-01T11:55:00Z");
    render(
      <StaleBanner
        what="the key"
        error={new ApiError(0, "network", "Cannot reach keygate.")}
        updatedAt={at}
        onRetry={onRetry}
        now={Date.parse("2026-06-01T12:00:00Z")}
      />,
    );
    const banner = screen.getByRole("status");
    expect(banner).toHaveTextContent("Could not refresh the key: Cannot reach keygate.");
    expect(banner).toHaveTextContent(`5 minutes ago (${absolute("2026-06-01T11:55:00Z", { seconds: true })})`);
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    expect(onRetry).toHaveBeenCalledTimes(1);
  });

  it("is for data whose refresh failed, not for a failed first read", () => {
    expect(isStale({ data: { a: 1 }, isError: true })).toBe(true);
    expect(isStale({ data: undefined, isError: true })).toBe(false);
    expect(isStale({ data: { a: 1 }, isError: false })).toBe(false);
  });
});

describe("a page that cannot load", () => {
  function Broken({ error }: { error: Error }): never {
    throw error;
  }

  it("recognises the browsers' chunk load errors", () => {
    expect(isChunkLoadError(new TypeError("Failed to fetch dynamically imported module: http://x/assets/a.js"))).toBe(true);
    expect(isChunkLoadError(new TypeError("error loading dynamically imported module"))).toBe(true);
    expect(isChunkLoadError(new TypeError("Importing a module script failed."))).toBe(true);
    expect(isChunkLoadError(new Error("x is undefined"))).toBe(false);
  });

  it("shows a message and a reload button instead of a white page", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const onReload = vi.fn();
    render(
      <ChunkErrorBoundary onReload={onReload}>
        <Broken error={new TypeError("Failed to fetch dynamically imported module: http://x/assets/key-page-abc.js")} />
      </ChunkErrorBoundary>,
    );
    expect(screen.getByRole("heading", { name: "This page could not be loaded" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent(/upgraded since this tab was opened/);
    await userEvent.setup().click(screen.getByRole("button", { name: "Reload" }));
    expect(onReload).toHaveBeenCalledTimes(1);
  });

  it("says so for any other failure too", () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    render(
      <ChunkErrorBoundary onReload={vi.fn()}>
        <Broken error={new Error("boom")} />
      </ChunkErrorBoundary>,
    );
    expect(screen.getByRole("heading", { name: "Something went wrong on this page" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("boom");
  });
});
