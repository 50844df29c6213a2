#!/usr/bin/env node
// `npm run chaos`: the fault soak (broker/test/chaos/chaos.test.ts), then the independent history
// checker over the history it wrote, in its own process, so that the RESULT line is the last line.
// Usage: node scripts/chaos.mjs [--nemesis kill-leader,pause-leader] [--seed N]
// (the same as GEOBROKER_CHAOS_NEMESES / GEOBROKER_CHAOS_SEED; without --nemesis: every kind, and a
// kind this machine cannot run refuses the run with the reason). Exits non-zero when the soak failed
// or the checker found any violation.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const env = { ...process.env };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].split("=", 2);
  const value = inline ?? args[++i];
  if (flag === "--nemesis" || flag === "--nemeses") env.GEOBROKER_CHAOS_NEMESES = value;
  else if (flag === "--seed") env.GEOBROKER_CHAOS_SEED = value;
  else {
    console.error(`unknown argument ${args[i]}; usage: npm run chaos -- [--nemesis a,b] [--seed N]`);
    process.exit(2);
  }
}
env.GEOBROKER_CHAOS_NEMESES ||= "all";
// Refuse up front, in one line, a fault kind this machine cannot run (never skip it silently).
const { selectKinds } = await import(join(root, "dist", "broker", "test", "chaos", "schedule.js"));
const { unavailable } = await import(join(root, "dist", "broker", "test", "chaos", "requirements.js"));
try {
  selectKinds(env.GEOBROKER_CHAOS_NEMESES, unavailable);
} catch (err) {
  console.error(`chaos: ${err.message}`);
  process.exit(2);
}
const latest = join(root, ".geobroker", "chaos", "latest.json");
const startedAt = Date.now();
const soak = spawnSync(process.execPath, [join(root, "scripts", "run-tests.mjs"), "chaos/chaos.test"], {
  stdio: "inherit",
  env,
});
if (!existsSync(latest) || statSync(latest).mtimeMs < startedAt) {
  console.error("the soak wrote no history (it failed before it started); see its output above");
  process.exit(1);
}
// Written at the start (seed, history) and again at the end (with the fault seconds): a run that
// failed half-way is still checked, over what it recorded.
const run = JSON.parse(readFileSync(latest, "utf8"));
console.log(`seed ${run.seed}: checking ${run.history}`);
const checker = spawnSync(
  process.execPath,
  [
    join(root, "dist", "broker", "test", "chaos", "history", "main.js"),
    run.history,
    ...(run.seconds === undefined ? [] : [String(run.seconds)]),
  ],
  { stdio: "inherit" },
);
process.exit(soak.status || checker.status || (soak.signal || checker.signal ? 1 : 0));
