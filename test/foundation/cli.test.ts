import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { projectRoot } from "../../broker/src/util/project-root.js";

const cli = join(projectRoot(), "dist", "broker", "src", "cli", "main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

test("geobroker --help lists every command and exits 0", () => {
  const out = run("--help");
  assert.equal(out.status, 0, out.stderr);
  for (const name of ["serve", "local", "pub", "sub", "topics", "status", "version"]) {
    assert.match(out.stdout, new RegExp(`^  ${name} `, "m"), `--help does not list ${name}`);
  }
});

test("an unknown command fails with exit code 2 and names the command", () => {
  const out = run("frobnicate");
  assert.equal(out.status, 2);
  assert.match(out.stderr, /unknown command "frobnicate"/);
});

test("geobroker --version prints the package version", () => {
  const out = run("--version");
  assert.equal(out.status, 0);
  assert.match(out.stdout.trim(), /^\d+\.\d+\.\d+$/);
});
