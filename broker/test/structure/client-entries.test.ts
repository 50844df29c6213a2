import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The client library ships to applications, browsers included (docs/client.md): it may depend on the
// generated code, the engine's error model and partitioner, and util, and nothing else of the broker;
// its browser entry must reach nothing from node: or connect-node. This reads the TypeScript sources.

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../..");
const clientDir = join(root, "broker/src/client");

function specifiersOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((m) => m[1]!);
}

const resolveTs = (file: string, spec: string) => resolve(dirname(file), spec).replace(/\.js$/, ".ts");

test("the client imports only gen/, engine/errors, engine/partitioner, util/ and its own modules", () => {
  const allowed = [
    `${join(root, "gen")}/`,
    `${clientDir}/`,
    `${join(root, "broker/src/util")}/`,
    join(root, "broker/src/engine/errors.ts"),
    join(root, "broker/src/engine/partitioner.ts"),
  ];
  const wrong: string[] = [];
  for (const name of readdirSync(clientDir).filter((n) => n.endsWith(".ts"))) {
    const file = join(clientDir, name);
    for (const spec of specifiersOf(file).filter((s) => s.startsWith("."))) {
      const target = resolveTs(file, spec);
      if (!allowed.some((a) => target === a || target.startsWith(a)))
        wrong.push(`${name} -> ${relative(root, target)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("the browser entry reaches nothing from node: or connect-node", () => {
  const seen = new Set<string>();
  const bad: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of specifiersOf(file)) {
      if (spec.startsWith("node:") || spec === "@connectrpc/connect-node")
        bad.push(`${relative(root, file)} imports ${spec}`);
      else if (spec.startsWith(".")) {
        const target = resolveTs(file, spec);
        if (existsSync(target)) visit(target);
      }
    }
  };
  visit(join(clientDir, "web.ts"));
  assert.ok(seen.size > 5, "the walk followed the entry's imports");
  assert.deepEqual(bad, []);
});

test("package.json exports geobroker/client and geobroker/client/web, and they load", async () => {
  const node = await import("geobroker/client" as string);
  assert.equal(typeof node.connect, "function");
  assert.equal(typeof node.GeoBrokerError, "function");
  const web = await import("geobroker/client/web" as string);
  assert.equal(typeof web.connect, "function");
});
