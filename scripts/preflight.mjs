#!/usr/bin/env node
// What `npm test` needs beyond Node, npm and `npm ci`, checked before the build so that a machine
// missing something fails in its first second with the one command that fixes it, not minutes into
// the run. `npm test` runs this first; exit 0 when nothing is missing. Usage: node scripts/preflight.mjs
//
// What the tests need and why (README, Requirements):
// - Node 20 or newer, and the npm dependencies (`npm ci`).
// - helm, for the operator chart's tests (operator/test/helm-chart.ts): scripts/ensure-helm.sh
//   builds the pinned version once into ~/.cache/geobroker/bin (GEOBROKER_BIN) with Go >= 1.24.
//   Without Go, the same version can be put there from helm's release archive.
// Nothing else: test certificates are made with node:crypto (no openssl), and jemalloc is used
// when installed but not needed (docs/decisions/0025-memory-allocator.md).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const missing = [];

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (nodeMajor < 20) {
  missing.push({
    what: `Node ${process.versions.node} is too old; geobroker needs Node 20 or newer`,
    fix: "install Node 20 or newer from https://nodejs.org, then npm ci",
  });
}

if (!existsSync(join(root, "node_modules", ".package-lock.json"))) {
  missing.push({ what: "the npm dependencies are not installed", fix: "npm ci" });
}

/** `go1.24.3` -> [1, 24]; undefined when there is no go on PATH. */
function goVersion() {
  try {
    const out = execFileSync("go", ["version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 2000,
    });
    const m = /go(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2])] : undefined;
  } catch {
    return undefined;
  }
}

const helmVersion = /^HELM_VERSION="([^"]+)"/m.exec(
  readFileSync(join(root, "scripts", "ensure-helm.sh"), "utf8"),
)?.[1];
const binDir = process.env.GEOBROKER_BIN ?? join(homedir(), ".cache", "geobroker", "bin");
const stamp = join(binDir, ".helm-version");
const helmReady =
  existsSync(join(binDir, "helm")) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === helmVersion;
if (!helmReady) {
  const go = goVersion();
  if (!go || go[0] < 1 || (go[0] === 1 && go[1] < 24)) {
    const arch = { x64: "amd64", arm64: "arm64" }[process.arch] ?? process.arch;
    const dir = process.env.GEOBROKER_BIN ? binDir : "~/.cache/geobroker/bin";
    const curl = existsSync("/usr/bin/curl") ? "" : "sudo apt-get install -y curl && ";
    missing.push({
      what:
        `the operator chart tests need helm ${helmVersion} in ${binDir}, and there is ` +
        (go ? `Go ${go.join(".")} (building helm needs 1.24 or newer)` : "no Go to build it") +
        " (or install Go >= 1.24 and npm test builds helm once)",
      fix:
        `${curl}mkdir -p ${dir} && curl -fsSL https://get.helm.sh/helm-${helmVersion}-linux-${arch}.tar.gz` +
        ` | tar -xz -C ${dir} --strip-components=1 linux-${arch}/helm && echo ${helmVersion} > ${dir}/.helm-version`,
    });
  }
}

if (missing.length > 0) {
  for (const m of missing) console.error(`npm test: ${m.what}.`);
  console.error(`Run this, then npm test again:\n\n  ${missing.map((m) => m.fix).join(" && ")}\n`);
  process.exit(1);
}
