#!/usr/bin/env node
// Runs every compiled test file under dist/ with Node's own test runner.
// Usage: node scripts/run-tests.mjs [substring ...]   (only files whose path contains a substring)
// Node 20's `--test` takes no globs, so the files are listed here.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");
const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith("--"));

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (name.endsWith(".test.js") && !name.endsWith(".e2e.test.js")) yield path;
  }
}

const files = [...walk(dist)]
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(" ") || "(all)"} under dist/; run npm run build first`);
  process.exit(1);
}
console.log(`running ${files.length} test files`);
const child = spawn(
  process.execPath,
  // --test-force-exit: a file whose tests have all finished is ended. Once, under heavy load, a chaos
  // test file passed and then spun at 100% CPU in Node's exit-time handle cleanup
  // (FreeEnvironment -> CleanupHandles, seen with gdb), which would hang CI until its time limit.
  ["--test", "--test-reporter=spec", "--test-concurrency=2", "--test-force-exit", ...passThrough, ...files],
  { cwd: root, stdio: "inherit" },
);
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
