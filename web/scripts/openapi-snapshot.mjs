// Refreshes src/lib/openapi.snapshot.json, the OpenAPI document the zod schemas are
// checked against (src/lib/schemas.openapi.test.ts): starts keygate (a debug build by
// default; KEYGATE_BIN=path for another) in a scratch directory, saves its
// GET /openapi.json pretty-printed in the order served, and stops it.
//
//   cd web && npm run openapi:snapshot
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = process.env.KEYGATE_BIN ?? fileURLToPath(new URL("../../target/debug/keygate", import.meta.url));
const out = fileURLToPath(new URL("../src/lib/openapi.snapshot.json", import.meta.url));

/** `json` indented by two spaces; keys, strings and numbers exactly as written. */
export function pretty(json) {
  let s = "";
  let depth = 0;
  const nl = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
      s += json.slice(i, j + 1);
      i = j;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      let j = i + 1;
      while (/\s/.test(json[j])) j++;
      if (json[j] === close) {
        s += c + close;
        i = j;
      } else {
        depth++;
        s += c + nl();
      }
    } else if (c === "}" || c === "]") {
      depth--;
      s += nl() + c;
    } else if (c === ",") s += "," + nl();
    else if (c === ":") s += ": ";
    else if (!/\s/.test(c)) s += c;
  }
  return s + "\n";
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "keygate-openapi-"));
  const child = spawn(bin, ["serve", "--port", "0"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  try {
    const base = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${bin} did not say where it listens within 60 s`)), 60_000);
      let seen = "";
      const look = (chunk) => {
        seen += chunk.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on("data", look);
      child.stderr.on("data", look);
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`${bin} exited (${code}) before listening:\n${seen}`)));
    });
    const res = await fetch(`${base}/openapi.json`);
    if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
    await writeFile(out, pretty(await res.text()));
    console.log(`wrote ${out}`);
  } finally {
    child.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
