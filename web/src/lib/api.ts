// A small fetch wrapper: every call sends the credential, every !ok answer throws an
// ApiError carrying the server's `{error, message, field}`, every JSON body is checked
// against its schema (files, such as the audit export, come back as they are). A 401
// also tells the app, which sends the user to log in again.
import type { z } from "zod";
import { errorBodySchema } from "./schemas";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  /** A 429's `Retry-After`, in seconds (when it said so in seconds). */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: string, message: string, field?: string, retryAfter?: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

export interface ApiOptions {
  /** keygate's base_path ("" or "/prefix"). */
  basePath: string;
  /** The bearer credential to send, if any. */
  getToken: () => string | null;
  /** Called on any 401, before the error is thrown. */
  onUnauthorized?: (error: ApiError) => void;
  fetch?: typeof fetch;
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Api {
  get<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>>;
  send<S extends z.ZodType>(method: Method, path: string, body: unknown, schema: S): Promise<z.infer<S>>;
  /** For answers without a body (204). */
  sendEmpty(method: Method, path: string, body?: unknown): Promise<void>;
  /** For answers that are files (the audit export's CSV or JSON): the body, unchecked. */
  getFile(path: string): Promise<Blob>;
}

export function createApi(options: ApiOptions): Api {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);

  async function call(method: Method, path: string, body: unknown, accept = "application/json"): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    const token = options.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await doFetch(`${options.basePath}${path}`, init);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new ApiError(0, "network", `Cannot reach keygate (${why}). Check your connection and try again.`);
    }
    if (!res.ok) {
      const error = await errorOf(res);
      if (res.status === 401) options.onUnauthorized?.(error);
      throw error;
    }
    return res;
  }

  async function parse<S extends z.ZodType>(res: Response, schema: S): Promise<z.infer<S>> {
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new ApiError(res.status, "bad_response", "keygate answered something that is not JSON.");
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ApiError(res.status, "bad_response", `keygate answered in an unexpected shape: ${parsed.error.message}`);
    }
    return parsed.data;
  }

  return {
    async get(path, schema) {
      return parse(await call("GET", path, undefined), schema);
    },
    async send(method, path, body, schema) {
      return parse(await call(method, path, body), schema);
    },
    async sendEmpty(method, path, body) {
      await call(method, path, body);
    },
    async getFile(path) {
      const res = await call("GET", path, undefined, "*/*");
      try {
        return await res.blob();
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new ApiError(0, "network", `Cannot reach keygate (${why}). Check your connection and try again.`);
      }
    },
  };
}

/** `Retry-After` in seconds; keygate sends seconds (an HTTP date is not worth a parser here). */
function retryAfterOf(res: Response): number | undefined {
  const v = res.headers.get("Retry-After")?.trim();
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  const retry = retryAfterOf(res);
  try {
    const body = errorBodySchema.safeParse(JSON.parse(text));
    if (body.success) {
      return new ApiError(res.status, body.data.error, body.data.message, body.data.field, retry);
    }
  } catch {
    // Not JSON: a proxy's error page, say.
  }
  const statusText = res.statusText ? ` ${res.statusText}` : "";
  return new ApiError(res.status, "http", `keygate answered ${res.status}${statusText}.`, undefined, retry);
}

/** Path segment encoding for owners and ids. */
export const seg = (s: string) => encodeURIComponent(s);
