import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The cluster layer reads the time and sets timers only through its injected Clock
// (broker/src/util/clock.ts), so the full-stack simulation and the in-process test cluster can run
// it on virtual time: one real timer left in it would fire on the wall clock, and a seed would no
// longer replay the same run. This reads the TypeScript sources, so it holds for what is committed.

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../..");
const cluster = join(root, "broker/src/cluster");

const realTime =
  /\b(setTimeout|setInterval|setImmediate|queueMicrotask|performance\.now|Date\.now|AbortSignal\.timeout)\b|\bnew Date\(\)/g;

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (name.endsWith(".ts")) yield path;
  }
}

/** The code without its comments and strings (a comment may name setTimeout). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "")
    .replace(/`(?:\\[\s\S]|[^\\`])*`|"(?:\\.|[^\\"\n])*"|'(?:\\.|[^\\'\n])*'/g, '""');
}

function realTimeUses(text: string): string[] {
  return [...code(text).matchAll(realTime)].map((m) => m[0]);
}

test("the check itself finds real time in code, and not in comments or strings", () => {
  assert.deepEqual(realTimeUses("const t = setTimeout(f, 1); const n = performance.now();"), [
    "setTimeout",
    "performance.now",
  ]);
  assert.deepEqual(realTimeUses("// setTimeout here\n/* Date.now() */ const s = 'AbortSignal.timeout';"), []);
});

test("broker/src/cluster uses no timer or time source but its injected Clock", () => {
  const found: string[] = [];
  let files = 0;
  for (const file of sources(cluster)) {
    files++;
    for (const use of realTimeUses(readFileSync(file, "utf8")))
      found.push(`${relative(root, file)}: ${use} (use the node's Clock: broker/src/util/clock.ts)`);
  }
  assert.ok(files > 40, `read only ${files} files under ${cluster}`);
  assert.deepEqual(found, []);
});
