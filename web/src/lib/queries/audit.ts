// Admin: the audit log, a page at a time, and its export (CSV or JSON) with the same
// filter, through the API client like every other call.
import { useInfiniteQuery, useMutation } from "@tanstack/react-query";
import { useAuth } from "../auth";
import { saveFile } from "../save-file";
import { auditPageSchema } from "../schemas";

export interface AuditFilter {
  owner: string;
  actor: string;
  token_id: string;
  /** One action ("rotate"), or "" for all. */
  action: string;
  /** RFC 3339 bounds: events at or after `since`, before `until`; "" for open. */
  since: string;
  until: string;
}

export const noAuditFilter: AuditFilter = { owner: "", actor: "", token_id: "", action: "", since: "", until: "" };

/** The filter as query parameters, empty ones left out. */
export function auditParams(filter: AuditFilter): URLSearchParams {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filter) as [string, string][]) if (v.trim()) p.set(k, v.trim());
  return p;
}

export function useAudit(filter: AuditFilter) {
  const { api } = useAuth();
  return useInfiniteQuery({
    queryKey: ["audit", filter],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => {
      const p = auditParams(filter);
      p.set("limit", "50");
      if (pageParam !== undefined) p.set("before", String(pageParam));
      return api.get(`/api/audit?${p.toString()}`, auditPageSchema);
    },
    getNextPageParam: (last) => last.next_before,
  });
}

/**
 * Admin: every audit event matching `filter` as a CSV or JSON file, saved by the
 * browser. The export needs the bearer credential, so it is fetched, not linked.
 */
export function useAuditExport() {
  const { api } = useAuth();
  return useMutation({
    mutationFn: async ({ filter, format }: { filter: AuditFilter; format: "csv" | "json" }) => {
      const p = auditParams(filter);
      p.set("format", format);
      const blob = await api.getFile(`/api/audit/export?${p.toString()}`);
      saveFile(blob, `keygate-audit.${format}`);
      return blob.size;
    },
  });
}
