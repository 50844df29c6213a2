import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Prefix } from "../../broker/src/storage/keys.js";
import { projectRoot } from "../../broker/src/util/project-root.js";

// The maps a newcomer reads first stay complete: the README's layout table names every folder of
// the repository and of broker/src, and docs/storage.md lists every key prefix the stores write.

const root = projectRoot();
const read = (path: string) => readFileSync(join(root, path), "utf8");
/** Folders of `dir`; dot folders and what builds and installs make (dist, node_modules) left out, .ci kept. */
const folders = (dir: string) =>
  readdirSync(join(root, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory() && (e.name === ".ci" || !e.name.startsWith(".")))
    .map((e) => e.name)
    .filter((name) => name !== "dist" && name !== "node_modules");

test("the README's layout table names every folder of the repository and of broker/src", () => {
  const readme = read("README.md");
  const layout = readme.slice(
    readme.indexOf("## Layout"),
    readme.indexOf("\n## ", readme.indexOf("## Layout") + 1),
  );
  for (const name of folders(".")) assert.ok(layout.includes(`\`${name}/\``), `README layout lacks ${name}/`);
  for (const name of folders("broker/src"))
    assert.ok(layout.includes(`\`broker/src/${name}/\``), `README layout lacks broker/src/${name}/`);
});

test("docs/storage.md lists every key prefix of broker/src/storage/keys.ts", () => {
  const storage = read("docs/storage.md");
  const letters = Object.values(Prefix)
    .filter((v): v is number => typeof v === "number")
    .map((v) => String.fromCharCode(v));
  assert.equal(letters.length, 10);
  for (const letter of letters)
    assert.match(
      storage,
      new RegExp(`^\\| \`${letter}\``, "m"),
      `storage.md has no row for prefix ${letter}`,
    );
});
