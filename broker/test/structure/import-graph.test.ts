import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// Dependencies point down (docs/architecture.md, "Layers"): a module imports only from its own
// folder or from a layer below it. The contract (engine/) sits under the code that implements it.
// This reads the TypeScript sources, so it holds for what is committed, not for what was built.

/** broker/src folders, bottom first; folders on one line are peers and may not import each other. */
const layers: string[][] = [
  ["util"],
  ["raft"],
  ["engine"],
  ["wire"],
  ["observability"],
  ["security"],
  ["config"],
  ["storage", "transport"],
  ["cluster"],
  ["api"],
  ["server"],
  ["local", "sim"],
  ["client"],
  ["cli"],
];

const here = dirname(fileURLToPath(import.meta.url));
// dist/broker/test/structure -> the repository root
const root = resolve(here, "../../../..");
const src = join(root, "broker/src");

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (name.endsWith(".ts")) yield path;
  }
}

function layerOf(file: string): { folder: string; rank: number } {
  const folder = relative(src, file).split("/")[0]!;
  const rank = layers.findIndex((l) => l.includes(folder));
  return { folder, rank };
}

/** Relative imports of a source file, resolved to .ts paths (type-only imports count: they couple too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g))
    out.push(resolve(dirname(file), m[1]!).replace(/\.js$/, ".ts"));
  return out;
}

test("every folder of broker/src has a layer", () => {
  const folders = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory());
  const missing = folders.filter((f) => !layers.some((l) => l.includes(f)));
  assert.deepEqual(missing, [], "add the new folder to the layer list (and to docs/architecture.md)");
});

/** The imports among `modules` (file -> the files it imports) that go to a peer or up. */
function upwardImports(modules: Iterable<[string, string[]]>): string[] {
  const upward: string[] = [];
  for (const [file, targets] of modules) {
    const from = layerOf(file);
    for (const target of targets) {
      if (!target.startsWith(src)) continue; // generated code and packages are below everything
      const to = layerOf(target);
      if (to.folder === from.folder) continue;
      if (to.rank >= from.rank)
        upward.push(
          `${relative(src, file)} -> ${relative(src, target)} (${from.folder} may not import ${to.folder})`,
        );
    }
  }
  return upward;
}

test("imports point down: no module imports from its own layer's peers or from above", () => {
  const upward = upwardImports([...sources(src)].map((f) => [f, importsOf(f)] as [string, string[]]));
  assert.deepEqual(upward, [], `upward imports:\n${upward.join("\n")}`);
});

test("the check reports an upward or sideways import when there is one", () => {
  // A check that cannot fail proves nothing: these imports must be reported.
  const at = (p: string) => join(src, p);
  assert.deepEqual(
    upwardImports([
      [at("raft/raft-node.ts"), [at("cluster/cluster-node.ts"), at("util/clock.ts")]],
      [at("storage/codec.ts"), [at("transport/peer-transport.ts"), at("engine/ports.ts")]],
      [at("cluster/groups/group-runner.ts"), [at("cluster/state/commands.ts")]],
    ]).length,
    2,
  );
});
