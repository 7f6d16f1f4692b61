import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { GuideView, sanitize } from "./guide-page";

describe("operator docs", () => {
  it("keeps markup and drops anything that could run", () => {
    const out = sanitize(
      '<h2>Access</h2><p onclick="alert(1)">Ask <a href="javascript:alert(1)">us</a></p><script>alert(1)</script><img src=x onerror="alert(1)"><style>body{}</style>',
    );
    expect(out).toContain("<h2>Access</h2>");
    expect(out).not.toMatch(/script|onclick|onerror|javascript:|<style/i);
  });

  it("renders the operator's HTML and links the API reference", () => {
    render(<GuideView appName="keygate" html="<h2>Ask #platform</h2>" apiDocs="/keygate/docs" />);
    expect(screen.getByRole("heading", { name: "Ask #platform" })).toBeInTheDocument();
    for (const link of screen.getAllByRole("link", { name: /API reference/ })) {
      expect(link).toHaveAttribute("href", "/keygate/docs");
    }
  });
});
