import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../util/project-root.js";

export function geobrokerVersion(): string {
  return JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")).version as string;
}
