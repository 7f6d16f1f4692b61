import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach, vi } from "vitest";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

// jsdom has <dialog> but not its modal methods.
const proto = HTMLDialogElement.prototype as Partial<HTMLDialogElement>;
if (!("showModal" in proto)) {
  proto.showModal = function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
}
if (!("close" in proto)) {
  proto.close = function (this: HTMLDialogElement) {
    this.removeAttribute("open");
  };
}
