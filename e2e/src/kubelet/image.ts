import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { jemallocPath } from "../../../broker/src/local/allocator.js";
import { repoRoot } from "../paths.js";

// There is no container runtime here, so an "image" is one of this repository's Dockerfiles, run
// from the repository's own build: the final stage's ENTRYPOINT, CMD, ENV, WORKDIR and USER are
// read from the Dockerfile itself, so the pods run exactly what the image would run, and a
// Dockerfile change is a change to the e2e run. Paths under the image's /app are the repo root.

export interface Image {
  reference: string;
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  workingDir: string;
  /** USER uid:gid, if the Dockerfile sets one. */
  user?: { uid: number; gid: number };
}

/** Image repository (last path element, no tag) -> Dockerfile in the repository. */
const dockerfiles: Record<string, string> = {
  geobroker: "Dockerfile.broker",
  "geobroker-broker": "Dockerfile.broker",
  "geobroker-operator": "Dockerfile.operator",
};

export class ImageNotFound extends Error {}

function repositoryName(reference: string): string {
  const withoutDigest = reference.split("@")[0] ?? reference;
  const last = withoutDigest.split("/").pop() ?? withoutDigest;
  return last.split(":")[0] ?? last;
}

const appPrefix = "/app";

function toHostPath(value: string): string {
  if (value === appPrefix) return repoRoot.replace(/\/$/, "");
  return value.startsWith(`${appPrefix}/`) ? join(repoRoot, value.slice(appPrefix.length + 1)) : value;
}

function jsonArray(rest: string, file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
    throw new Error(`${file}: only the JSON (exec) form of ENTRYPOINT/CMD is supported, got ${rest}`);
  }
  return parsed;
}

/** The final stage of a Dockerfile, as a process to run on this machine. */
export function parseDockerfile(text: string, file: string, reference: string): Image {
  // Join continuation lines, keep only the last stage (after the last FROM).
  const lines = text.replace(/\\\n/g, " ").split("\n");
  const lastFrom = lines.map((l) => /^\s*FROM\s/i.test(l)).lastIndexOf(true);
  const image: Image = { reference, entrypoint: [], cmd: [], env: {}, workingDir: "/" };
  for (const raw of lines.slice(lastFrom + 1)) {
    const line = raw.trim();
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match || line.startsWith("#")) continue;
    const [, instruction = "", rest = ""] = match;
    switch (instruction.toUpperCase()) {
      case "ENTRYPOINT":
        image.entrypoint = jsonArray(rest, file).map(toHostPath);
        break;
      case "CMD":
        image.cmd = jsonArray(rest, file).map(toHostPath);
        break;
      case "WORKDIR":
        image.workingDir = toHostPath(rest);
        break;
      case "ENV": {
        const [key, ...value] = rest.split("=");
        if (key && value.length > 0) image.env[key.trim()] = value.join("=").trim();
        break;
      }
      case "USER": {
        const [uid, gid] = rest.split(":").map(Number);
        if (uid !== undefined && Number.isInteger(uid)) image.user = { uid, gid: gid ?? uid };
        break;
      }
    }
  }
  // The image installs jemalloc at its own path; here it is wherever Debian put it (or absent).
  if (image.env.LD_PRELOAD && !existsSync(image.env.LD_PRELOAD)) {
    const local = jemallocPath();
    if (local && image.env.LD_PRELOAD.includes("jemalloc")) image.env.LD_PRELOAD = local;
    else delete image.env.LD_PRELOAD;
  }
  return image;
}

export function resolveImage(reference: string): Image {
  const dockerfile = dockerfiles[repositoryName(reference)];
  if (!dockerfile) {
    throw new ImageNotFound(
      `image ${reference} is not built by this repository (known: ${Object.keys(dockerfiles).join(", ")})`,
    );
  }
  const file = join(repoRoot, dockerfile);
  return parseDockerfile(readFileSync(file, "utf8"), file, reference);
}
