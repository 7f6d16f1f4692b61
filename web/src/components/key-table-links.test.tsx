import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_STATE } from "../lib/key-list-model";
import { keyHref } from "../lib/links";
import { token } from "../test-fixtures";
import { KeyTable } from "./key-table";

describe("the key table's links", () => {
  it("links each key's name to its page when told where that is", () => {
    render(
      <MemoryRouter>
        <KeyTable
          tokens={[{ ...token, id: "k/1", name: "odd id" }]}
          now={Date.now()}
          state={DEFAULT_STATE}
          onState={vi.fn()}
          onEdit={vi.fn()}
          onRotate={vi.fn()}
          onRevoke={vi.fn()}
          keyHref={(t) => keyHref("any", t.id)}
        />
      </MemoryRouter>,
    );
    expect(screen.getByRole("link", { name: "odd id" })).toHaveAttribute("href", "/admin/keys/k%2F1");
  });
});
