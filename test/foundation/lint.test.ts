import { test } from "node:test";
import { runTool } from "../support/run-tool.js";

test("biome check (format + lint) passes on the whole tree", () => {
  runTool("biome", ["check", "--error-on-warnings", "."]);
});

test("the TypeScript build is clean", () => {
  runTool("tsc", ["-p", ".", "--noEmit"]);
});
