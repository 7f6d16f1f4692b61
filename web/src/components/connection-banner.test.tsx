import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { ConnectionBannerShown, isUnreachable } from "../lib/queries/connection";
import { ConnectionBanner, age, loadedTime } from "./connection-banner";
import { StaleBanner } from "./stale-banner";

/** What the probes' queries do next: answer, or fail with this error (all, or by id). */
let next: ApiError | null = null;
const failing = new Map<string, ApiError>();

function Probe({ id = "x" }: { id?: string }) {
  const q = useQuery({
    queryKey: [id],
    queryFn: () => {
      const error = failing.get(id) ?? next;
      if (error) return Promise.reject(error);
      return Promise.resolve(`data of ${id}`);
    },
    retry: false,
  });
  return <p>{q.data ?? "nothing yet"}</p>;
}

function setup(probe = <Probe />) {
  const client = new QueryClient();
  render(
    <QueryClientProvider client={client}>
      <ConnectionBanner />
      {probe}
    </QueryClientProvider>,
  );
  return { client, user: userEvent.setup() };
}

const down = () => new ApiError(0, "network", "Cannot reach keygate (Failed to fetch).");

afterEach(() => {
  next = null;
  failing.clear();
  vi.useRealTimers();
});

describe("the connection banner", () => {
  it("says keygate cannot be reached, since when the screen is, and goes once an answer comes", async () => {
    const { client, user } = setup();
    await screen.findByText("data of x");
    const loaded = client.getQueryState(["x"])?.dataUpdatedAt ?? 0;
    // Announced in a live region that is there before it says anything.
    const live = screen.getByRole("status");
    expect(live).toBeEmptyDOMElement();

    next = down();
    await act(() => client.refetchQueries());
    await waitFor(() => {
      expect(live).toHaveTextContent(`Cannot reach keygate — showing what was loaded at ${loadedTime(loaded, Date.now())}`);
    });
    const banner = screen.getByTestId("connection");
    expect(banner).toHaveTextContent(/\(\d+ s ago\)/);
    expect(banner.querySelector("time")).toHaveAttribute("dateTime", new Date(loaded).toISOString());
    // What was loaded stays on screen.
    expect(screen.getByText("data of x")).toBeInTheDocument();

    next = null;
    await user.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => {
      expect(live).toBeEmptyDOMElement();
    });
    expect(screen.queryByRole("button", { name: "Try again" })).toBeNull();
  });

  it("says nothing for an answer from keygate, even a refusal, or when nothing was loaded yet", async () => {
    failing.set("never", down());
    const { client } = setup(
      <>
        <Probe />
        <Probe id="never" />
      </>,
    );
    await screen.findByText("data of x");
    await waitFor(() => {
      expect(client.getQueryState(["never"])?.status).toBe("error");
    });
    failing.set("x", new ApiError(400, "invalid", "bad search", "q"));
    await act(() => client.refetchQueries({ queryKey: ["x"] }));
    expect(client.getQueryState(["x"])?.status).toBe("error");
    expect(screen.getByRole("status")).toBeEmptyDOMElement();
  });

  it("knows an unreachable keygate from an unwell one", () => {
    expect(isUnreachable(new ApiError(0, "network", ""))).toBe(true);
    expect(isUnreachable(new ApiError(502, "http", ""))).toBe(true);
    expect(isUnreachable(new ApiError(504, "http", ""))).toBe(true);
    // A proxy's 503 page, not keygate's own 503 (its store is out, but it answers).
    expect(isUnreachable(new ApiError(503, "http", ""))).toBe(true);
    expect(isUnreachable(new ApiError(503, "unavailable", "the store is unavailable"))).toBe(false);
    expect(isUnreachable(new ApiError(500, "internal", ""))).toBe(false);
    expect(isUnreachable(new Error("x"))).toBe(false);
  });

  it("says the age to the second, then in minutes and hours", () => {
    expect(age(0)).toBe("0 s ago");
    expect(age(42_400)).toBe("42 s ago");
    expect(age(3 * 60_000 + 5_000)).toBe("3 min ago");
    expect(age(2 * 3_600_000)).toBe("2 h ago");
    expect(age(2 * 3_600_000 + 5 * 60_000)).toBe("2 h 5 min ago");
  });

  it("leaves a page's own notice quiet when it would say the same", () => {
    render(
      <ConnectionBannerShown value={true}>
        <StaleBanner what="the key" error={down()} updatedAt={0} onRetry={vi.fn()} />
        <StaleBanner what="the list" error={new ApiError(500, "internal", "it broke")} updatedAt={0} onRetry={vi.fn()} />
      </ConnectionBannerShown>,
    );
    expect(screen.getAllByRole("status")).toHaveLength(1);
    expect(screen.getByRole("status")).toHaveTextContent("Could not refresh the list: it broke");
  });
});
