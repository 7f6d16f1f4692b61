import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { TopTable } from "./top-table";

const counts = { allowed: 90, forbidden: 4, refused: 3, rate_limited: 2, usage_exceeded: 1 };
const owner = "payments-platform-service-account@finance-engineering.example.com";

describe("a busiest-owners table", () => {
  it("keeps each label on one line, the whole of it in the tooltip", () => {
    render(
      <TopTable
        id="owners"
        title="Busiest owners"
        rows={[{ owner, totals: counts }]}
        rowKey={(r) => r.owner}
        columns={[{ head: "Owner", cell: (r) => <a href="#o">{r.owner}</a> }]}
        totals={(r) => r.totals}
      />,
    );
    const label = screen.getByRole("link", { name: owner }).closest(".top-label");
    expect(label).toHaveAttribute("title", owner);
    expect(screen.getByRole("table")).toHaveClass("top-table");
    expect(screen.getByRole("cell", { name: "10" })).toHaveClass("warn");
  });
});
