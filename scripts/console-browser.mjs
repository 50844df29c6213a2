// The web console in headless Chromium against a real local cluster (called by test-browser.mjs;
// docs/console.md). Every claim is checked against the CLI, a separate client: the map's leaders are
// the admin API's, a topic made in the page exists for the CLI, messages cross between the page and
// CLI clients in other regions, and a user without admin rights cannot delete a topic. Screenshots
// of each view go to .browser-screenshots/ (git-ignored).
import { execFile, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
export const screenshotDir = join(root, ".browser-screenshots");

function cli(clusterFile) {
  const main = join(root, "dist/broker/src/cli/main.js");
  const call = async (args, input) => {
    const child = run(process.execPath, [main, ...args, "--cluster-file", clusterFile], { timeout: 30_000 });
    if (input !== undefined) {
      child.child.stdin.end(input);
    }
    return (await child).stdout;
  };
  const stream = (args) =>
    spawn(process.execPath, [main, ...args, "--cluster-file", clusterFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  return { call, stream };
}

/** Retries `check` (which throws while false) until it passes or `ms` ran out; rethrows the last failure. */
async function eventually(what, ms, check) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw new Error(`${what}: ${err.message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function assert(ok, message) {
  if (!ok) throw new Error(message);
}

async function signIn(page, url, user, password) {
  await page.goto(url);
  await page.getByLabel("User", { exact: true }).fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Views" }).waitFor();
}

/** Where docs/console.md's pictures come from: GEOBROKER_CONSOLE_DOCS=docs/console also writes them. */
const docsDir = process.env.GEOBROKER_CONSOLE_DOCS;

async function shot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
  if (docsDir) await page.screenshot({ path: join(root, docsDir, `${name}.png`) });
}

/** Group label -> leader, in label order: the same JSON for the same leaders. */
const sorted = (entries) =>
  JSON.stringify(Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b))));

/** The map's leaders as the page shows them. */
const pageLeaders = async (page) =>
  sorted(
    await page.$$eval("table.groups tbody tr", (rows) =>
      rows.map((r) => [
        r.querySelector("[data-group]")?.textContent ?? "",
        r.querySelector("[data-leader]")?.getAttribute("data-leader") ?? "",
      ]),
    ),
  );

async function adminLeaders(c) {
  const info = JSON.parse(await c.call(["status", "--json"]));
  return sorted(
    info.groups.map((g) => [
      g.topic === "metadata" ? "metadata" : `${g.topic}/${g.partition}`,
      g.leaderNodeId,
    ]),
  );
}

async function checkMap(page, c, log) {
  await page.goto(`${page.url().split("#")[0]}#/map`);
  await page.locator("section.region").nth(2).waitFor();
  const regions = await page.$$eval("section.region", (s) => s.map((x) => x.getAttribute("data-region")));
  assert(regions.length === 3, `the map shows ${regions.length} regions (${regions}), not 3`);
  // Leaders can move between the two reads (an election): compare until both agree, bounded.
  await eventually("the map's leaders are the admin API's", 20_000, async () => {
    const before = await adminLeaders(c);
    await page.waitForTimeout(2500); // one map refresh
    const shown = await pageLeaders(page);
    const after = await adminLeaders(c);
    if (before !== after) throw new Error("leaders moved meanwhile");
    assert(shown === after, `page ${shown} != admin API ${after}`);
  });
  log(`console: the map shows 3 regions (${regions.join(", ")}) and the admin API's leaders`);
  await shot(page, "map");
}

async function createTopic(page, c, topic, log) {
  await page.getByRole("link", { name: "Topics" }).click();
  const form = page.locator("form.create");
  await form.getByLabel("Name", { exact: true }).fill(topic);
  await form.getByLabel("Partitions", { exact: true }).fill("2");
  await form.getByLabel("Replication factor", { exact: true }).fill("3");
  await form.getByLabel("Max messages per partition", { exact: true }).fill("100000");
  await form.getByLabel("Home region", { exact: true }).selectOption("us");
  await form.getByRole("button", { name: "Create topic" }).click();
  await page.getByText(`Created topic ${topic}.`).waitFor();
  const got = await c.call(["topics", "get", topic]);
  assert(
    /partitions 2/.test(got) && /home us/.test(got) && /messages 100000/.test(got),
    `the CLI sees: ${got}`,
  );
  // Edit retention in the page; the CLI sees the change.
  await eventually("the new topic is listed", 15_000, () =>
    page.locator(`details[data-topic="${topic}"]`).waitFor({ timeout: 1000 }),
  );
  const details = page.locator(`details[data-topic="${topic}"]`);
  await details.locator("summary").click();
  await details.getByLabel("Max messages per partition", { exact: true }).fill("5000");
  await details.getByRole("button", { name: "Save retention" }).click();
  await page.getByText(`Saved the retention of ${topic}.`).waitFor();
  const updated = await c.call(["topics", "get", topic]);
  assert(/messages 5000/.test(updated), `after the edit the CLI sees: ${updated}`);
  log(`console: topic ${topic} created and its retention edited in the page; the CLI sees both`);
  await shot(page, "topics");
}

/** Resolves with the first JSON line a CLI subscriber prints whose body is `body`. */
function cliReceives(c, topic, region, body) {
  const sub = c.stream(["sub", topic, "--from", "earliest", "--json", "--region", region]);
  let out = "";
  let err = "";
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.kill();
      reject(new Error(`the CLI subscriber in ${region} did not get ${body} in 30 s:\n${out}\n${err}`));
    }, 30_000);
    sub.stdout.on("data", (d) => {
      out += d;
      for (const line of out.split("\n")) {
        if (line.includes(body)) {
          clearTimeout(timer);
          sub.kill();
          resolve(JSON.parse(line));
        }
      }
    });
    sub.stderr.on("data", (d) => (err += d));
  });
  return got;
}

async function messages(page, c, topic, log) {
  await page.getByRole("link", { name: "Messages" }).click();
  // Page (served in eu) -> CLI subscriber in us.
  const fromPage = JSON.stringify({ from: "page", at: Date.now() });
  const seen = cliReceives(c, topic, "us", "page");
  const pub = page.locator("form.publish");
  await pub.getByLabel("Topic", { exact: true }).fill(topic);
  await pub.getByLabel("Key", { exact: true }).fill("k1");
  await pub.getByLabel("Headers", { exact: true }).fill("source=console");
  await pub.getByLabel("Body", { exact: true }).fill(fromPage);
  await pub.getByRole("button", { name: "Publish" }).click();
  await page.getByText(/^Published /).waitFor();
  const received = await seen;
  log(
    `console: published in the page (eu), the CLI in us received it: ${JSON.stringify(received).slice(0, 160)}`,
  );
  // CLI publisher in ap -> the page's live tail.
  const tail = page.locator("form.tail");
  await tail.getByLabel("Topic", { exact: true }).fill(topic);
  await tail.getByLabel("From", { exact: true }).selectOption("earliest");
  await tail.getByLabel("Show bodies as", { exact: true }).selectOption("json");
  await tail.getByRole("button", { name: "Start reading" }).click();
  await page.locator("li.message").first().waitFor();
  const fromCli = `cli-in-ap-${Date.now()}`;
  await c.call(["pub", topic, JSON.stringify({ from: fromCli }), "--region", "ap"]);
  await page.locator("li.message", { hasText: fromCli }).waitFor({ timeout: 30_000 });
  const pretty = await page.locator("li.message", { hasText: '"from": "page"' }).count();
  assert(pretty === 1, "the page's own message is shown once, pretty-printed as JSON");
  log("console: published by the CLI in ap, the page's live tail showed it");
  await shot(page, "messages");
  await tail.getByRole("button", { name: "Stop" }).click();
}

async function consumers(page, c, topic, log) {
  await page.getByRole("link", { name: "Consumers" }).click();
  const form = page.locator("form.create");
  await form.getByLabel("Topic", { exact: true }).fill(topic);
  await form.getByLabel("Name", { exact: true }).fill("console-reader");
  await form.getByLabel("Max deliveries", { exact: true }).fill("5");
  await form.getByRole("button", { name: "Create consumer" }).click();
  await page.getByText(`Created consumer console-reader on ${topic}.`).waitFor();
  const row = page
    .locator("table.consumers tbody tr", { hasText: topic })
    .filter({ hasText: "console-reader" });
  await row.waitFor();
  const listed = await c.call(["consumers", "list", topic]).catch((e) => e.stdout ?? String(e));
  assert(listed.includes("console-reader"), `the CLI lists: ${listed}`);
  // Two messages are in the topic and none is acknowledged: the lag says so.
  await eventually("the consumer's lag counts the topic's messages", 10_000, async () => {
    const text = await row.textContent();
    assert(/2 total/.test(text ?? ""), `row: ${text}`);
  });
  log("console: durable consumer created in the page, listed by the CLI, lag 2");
  await shot(page, "consumers");
}

async function metrics(page, c, topic, log) {
  await page.getByRole("link", { name: "Throughput and latency" }).click();
  await page.locator("figure svg.plot").first().waitFor({ timeout: 20_000 });
  const figures = await page.locator("figure").count();
  assert(figures === 4, `${figures} plots, not 4`);
  // Load served in us: its publish rate and p99 show up in us's line, from the nodes' own counters.
  await c.call(["pub", topic, "--count", "400", "--size", "64", "--region", "us"]);
  const publishLegend = page.locator("figure").first().locator(".legend li", { hasText: "us:" });
  await eventually("us's publish rate rises above zero", 30_000, async () => {
    const text = await publishLegend.textContent();
    assert(!/us: 0\/s|no data/.test(text ?? ""), text);
  });
  const p99 = await page.locator("figure").nth(2).locator(".legend li", { hasText: "us:" }).textContent();
  assert(/ms|s$/.test(p99 ?? "") && !/no data/.test(p99 ?? ""), `us's publish p99: ${p99}`);
  log(
    `console: throughput and latency per region from the nodes' metrics: ${await publishLegend.textContent()}, p99 ${p99}`,
  );
  await shot(page, "metrics");
}

async function nonAdminCannotDelete(browser, url, c, topic, log) {
  // A name of its own per run: the script may run again on the same cluster.
  const viewer = `viewer-${Date.now()}`;
  await c.call(["users", "create", viewer, "--password-stdin"], "viewer-password\n");
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  // A user just created reaches every node through the replicated state within a moment.
  await eventually("the viewer can sign in", 15_000, () => signIn(page, url, viewer, "viewer-password"));
  await page.getByRole("link", { name: "Topics" }).click();
  await page.getByRole("button", { name: `Delete topic ${topic}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete topic" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "No permission" });
  await alert.waitFor();
  const text = await alert.textContent();
  await shot(page, "topics-no-permission");
  await context.close();
  const still = await c.call(["topics", "get", topic]);
  assert(still.includes(topic), "the topic still exists");
  log(
    `console: a user without admin rights was refused the delete: ${text?.replace(/\s+/g, " ").slice(0, 160)}`,
  );
}

async function adminDeletes(page, c, topic, log) {
  await page.getByRole("link", { name: "Topics" }).click();
  await page.getByRole("button", { name: `Delete topic ${topic}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  assert((await c.call(["topics", "get", topic])).includes(topic), "cancelled: the topic is kept");
  await page.getByRole("button", { name: `Delete topic ${topic}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete topic" }).click();
  await page.getByText(`Deleted topic ${topic}.`).waitFor();
  const gone = await c.call(["topics", "get", topic]).then(
    () => false,
    () => true,
  );
  assert(gone, "after the confirmed delete the CLI no longer finds the topic");
  log("console: delete asks for confirmation; cancel keeps the topic, confirm deletes it");
}

/** `geobroker console`: the same page from this machine, its calls passed on to a node. */
async function viaConsoleCommand(browser, c, username, password, log) {
  const port = 20_000 + (process.pid % 400) * 10 + 8;
  const server = c.stream(["console", "--listen", `127.0.0.1:${port}`]);
  try {
    let out = "";
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`geobroker console did not start:\n${out}`)), 20_000);
      const seen = (d) => {
        out += d;
        if (out.includes("/console/")) {
          clearTimeout(timer);
          resolve();
        }
      };
      server.stdout.on("data", seen);
      server.stderr.on("data", seen);
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, `http://127.0.0.1:${port}/console/`, username, password);
    await page.locator("section.region").nth(2).waitFor();
    const who = await page.locator(".who").textContent();
    await shot(page, "console-command");
    await context.close();
    log(
      `console: geobroker console served the page on http://127.0.0.1:${port}/, three regions shown (${who?.trim()})`,
    );
  } finally {
    server.kill("SIGTERM");
  }
}

/** Runs every console check; throws on the first that fails (after a screenshot of the page). */
export async function testConsole({
  browser,
  clusterFile,
  consoleUrl,
  username,
  password,
  log = console.log,
}) {
  // Only this run's pictures (a failure.png of an earlier run would mislead).
  rmSync(screenshotDir, { recursive: true, force: true });
  mkdirSync(screenshotDir, { recursive: true });
  const c = cli(clusterFile);
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} ${r.url()}`));
  const topic = `console-${Date.now()}`;
  try {
    await signIn(page, consoleUrl, username, password);
    await shot(page, "signed-in");
    await createTopic(page, c, topic, log);
    await checkMap(page, c, log);
    await messages(page, c, topic, log);
    await consumers(page, c, topic, log);
    await metrics(page, c, topic, log);
    await nonAdminCannotDelete(browser, consoleUrl, c, topic, log);
    await adminDeletes(page, c, topic, log);
    await viaConsoleCommand(browser, c, username, password, log);
    const unexpected = problems.filter((p) => !/net::ERR|Failed to load resource/.test(p));
    assert(unexpected.length === 0, `errors in the page: ${unexpected.join("\n")}`);
  } catch (err) {
    await shot(page, "failure").catch(() => {});
    throw new Error(
      `${err.message}\n(page errors: ${problems.join("; ") || "none"}; screenshot ${join(screenshotDir, "failure.png")})`,
    );
  } finally {
    await context.close();
  }
}

// Alone, against a running local cluster: node scripts/console-browser.mjs [cluster.json]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { readFileSync } = await import("node:fs");
  const clusterFile = process.argv[2] ?? join(root, ".geobroker/local/cluster.json");
  const file = JSON.parse(readFileSync(clusterFile, "utf8"));
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" });
  try {
    await testConsole({
      browser,
      clusterFile,
      consoleUrl: file.console,
      username: file.username,
      password: file.password,
    });
    console.log("console browser test ok");
  } finally {
    await browser.close();
  }
}
