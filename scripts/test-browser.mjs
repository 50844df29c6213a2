#!/usr/bin/env node
// npm run test:browser: the browser entry of the client and the web console in headless Chromium
// (Debian's `chromium`, driven by playwright-core). Starts the local cluster `npm start` runs (three
// regions, TLS, CORS for the example page's origin) in a temporary folder; serves examples/browser/
// and checks that the page publishes in eu and receives the message in us through the nodes' client
// ports; then drives the console each node serves under /console/ (scripts/console-browser.mjs;
// screenshots in .browser-screenshots/). Not part of npm test: chromium is a system package (.ci/run
// installs it).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startExampleServer } from "./browser-example.mjs";
import { screenshotDir, testConsole } from "./console-browser.mjs";

const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
if (!chromiumPath) {
  const sudo = process.getuid?.() === 0 ? "" : "sudo ";
  console.error(`test:browser needs Debian's chromium: ${sudo}apt-get install -y chromium`);
  process.exit(1);
}
// `--preflight`: only the check above, so that npm run test:browser says it before building.
if (process.argv.includes("--preflight")) process.exit(0);
const root = new URL("..", import.meta.url).pathname;
const { chromium } = await import("playwright-core");

const dir = mkdtempSync(join(tmpdir(), "geobroker-browser-"));
const basePort = 20000 + (process.pid % 400) * 10;
const pagePort = basePort + 9;
const origin = `http://127.0.0.1:${pagePort}`;
let cluster;
let server;
let browser;
let failed = false;
try {
  cluster = spawn(
    process.execPath,
    [
      join(root, "dist/broker/src/cli/main.js"),
      "local",
      "--base-port",
      String(basePort),
      "--data-dir",
      dir,
      "--cors-origin",
      origin,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the local cluster was not ready in 60 s:\n${output}`)),
      60_000,
    );
    cluster.stdout.on("data", (d) => {
      output += d;
      if (output.includes("cluster is ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    cluster.stderr.on("data", (d) => (output += d));
    cluster.once("exit", (code) => reject(new Error(`the local cluster exited (${code}):\n${output}`)));
  });
  server = await startExampleServer({ port: pagePort, clusterFile: join(dir, "cluster.json") });
  // The local cluster's CA is its own: this browser is told not to check certificates, and only here.
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--ignore-certificate-errors"] });
  const page = await browser.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  const body = `browser-${Date.now()}`;
  await page.goto(`${origin}/?publish=eu&subscribe=us&auto=${body}`);
  await page.waitForFunction(() => document.getElementById("result")?.textContent !== "", null, {
    timeout: 60_000,
  });
  const result = await page.textContent("#result");
  const log = await page.textContent("#log");
  console.log(log);
  if (!result?.startsWith("ok ") || !log?.includes(`: ${body}`) || !/received .* in us/.test(log)) {
    failed = true;
    console.error(`the page said "${result}"\n${consoleLines.join("\n")}`);
  } else {
    console.log(`test:browser ok: published in eu, received in us (${result})`);
  }
  const file = JSON.parse(readFileSync(join(dir, "cluster.json"), "utf8"));
  await testConsole({
    browser,
    clusterFile: join(dir, "cluster.json"),
    consoleUrl: file.console,
    username: file.username,
    password: file.password,
  });
  console.log(`test:browser ok: the web console (screenshots in ${screenshotDir})`);
} catch (err) {
  failed = true;
  console.error(`test:browser: ${err.stack ?? err}`);
} finally {
  await browser?.close();
  server?.close();
  if (cluster && cluster.exitCode === null) {
    const gone = new Promise((r) => cluster.once("exit", r));
    cluster.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
