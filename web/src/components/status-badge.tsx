import type { TokenStatus } from "../lib/schemas";

const labels: Record<TokenStatus, string> = {
  active: "Active",
  disabled: "Disabled",
  expired: "Expired",
  rotating: "Rotating",
};

export function StatusBadge({ status }: { status: TokenStatus }) {
  return <span className={`badge badge-${status}`}>{labels[status]}</span>;
}
