import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

// There is no Docker engine here, so the images' runtime stage is reproduced in a temporary
// folder: the files the Dockerfile's runtime stage copies, `npm ci --omit=dev` (from the npm
// cache), then the ENTRYPOINT with --version. The steps are read from the Dockerfiles, so a
// Dockerfile that copies too little fails here.

const root = new URL("../../../", import.meta.url).pathname;
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

interface RuntimeStage {
  copies: { sources: string[]; to: string; fromBuild: boolean }[];
  entrypoint: string[];
  user: string;
  base: string;
}

/** The last stage of a Dockerfile: its COPY lines, ENTRYPOINT, USER and base image. */
export function runtimeStage(dockerfile: string): RuntimeStage {
  const text = readFileSync(join(root, dockerfile), "utf8").replace(/\\\n/g, " ");
  const stages = text.split(/^FROM /m);
  const last = stages[stages.length - 1]!;
  const copies = [...last.matchAll(/^COPY\s+(--from=build\s+)?(.+?)\s*$/gm)].map((m) => {
    const args = m[2]!.split(/\s+/);
    const to = args.pop()!;
    return { fromBuild: !!m[1], sources: args.map((a) => a.replace(/^\/src\//, "")), to };
  });
  const entrypoint = JSON.parse(/^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(last)?.[1] ?? "[]") as string[];
  const user = /^USER\s+(\S+)/m.exec(last)?.[1] ?? "root";
  return { copies, entrypoint, user, base: last.split("\n")[0]!.trim() };
}

const work = mkdtempSync(join(tmpdir(), "geobroker-image-"));
after(() => rmSync(work, { recursive: true, force: true }));

function reproduce(dockerfile: string): string {
  const stage = runtimeStage(dockerfile);
  const app = join(work, dockerfile.toLowerCase().replace(/[^a-z]/g, "-"));
  for (const c of stage.copies) {
    // Build-stage outputs come from this checkout's own build (npm test compiles first).
    const dest = join(app, c.to.replace(/^\.\//, ""));
    for (const source of c.sources) {
      const target = c.to.endsWith("/") ? join(dest, source.split("/").pop()!) : dest;
      cpSync(join(root, source), target, { recursive: true });
    }
  }
  execFileSync(
    "npm",
    ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
    {
      cwd: app,
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 180_000,
    },
  );
  const [cmd, entry, ...rest] = stage.entrypoint;
  assert.equal(cmd, "node");
  const script = join(app, entry!.replace(/^\/app\//, ""));
  return execFileSync(process.execPath, [script, ...rest, "--version"], {
    cwd: app,
    encoding: "utf8",
    timeout: 30_000,
  }).trim();
}

describe("container images", { timeout: 5 * 60_000 }, () => {
  for (const [dockerfile, entry] of [
    ["Dockerfile.operator", "/app/dist/operator/src/main.js"],
    ["Dockerfile.broker", "/app/dist/broker/src/cli/main.js"],
  ] as const) {
    it(`${dockerfile}: multi-stage on Node 24 slim, non-root, healthcheck and labels`, () => {
      const text = readFileSync(join(root, dockerfile), "utf8");
      assert.equal((text.match(/^FROM /gm) ?? []).length, 2);
      assert.match(text, /^ARG NODE_VERSION=24$/m);
      assert.match(text, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS build$/m);
      assert.match(text, /npm ci --omit=dev/);
      assert.match(text, /^HEALTHCHECK /m);
      assert.match(text, /org\.opencontainers\.image\.version/);
      const stage = runtimeStage(dockerfile);
      assert.notEqual(stage.user, "root");
      assert.equal(stage.user.split(":")[0], "10001");
      assert.deepEqual(stage.entrypoint, ["node", entry]);
    });

    it(`${dockerfile}: a production install of what the image copies answers --version`, () => {
      assert.equal(reproduce(dockerfile), version);
    });
  }
});
