import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { projectRoot } from "../../broker/src/util/project-root.js";
import { runTool } from "../support/run-tool.js";

const root = projectRoot();

function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return out;
}

test("committed generated code in gen/ matches a fresh `buf generate`", () => {
  const scratch = mkdtempSync(join(tmpdir(), "geobroker-gen-"));
  try {
    runTool("buf", ["generate", "--output", scratch]);
    const fresh = filesUnder(join(scratch, "gen"));
    const committed = filesUnder(join(root, "gen"));
    assert.ok(fresh.size > 0, "buf generate produced no files");
    assert.deepEqual(
      [...committed.keys()].sort(),
      [...fresh.keys()].sort(),
      "gen/ has a different file set: run `npm run gen`",
    );
    for (const [path, text] of fresh) {
      assert.equal(committed.get(path), text, `gen/${path} is stale: run \`npm run gen\``);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test("buf lint passes", () => {
  runTool("buf", ["lint"]);
});
