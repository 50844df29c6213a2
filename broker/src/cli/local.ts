import { rmSync } from "node:fs";
import { join, relative } from "node:path";
import { checkPorts, LocalCluster } from "../local/launcher.js";
import { prepareLocalCluster } from "../local/layout.js";
import { projectRoot } from "../util/project-root.js";
import { type Command, parseFlags } from "./command.js";

const usage = `geobroker local: a multi-region cluster on this machine (what \`npm start\` runs)

Usage: geobroker local [--regions eu,us,ap] [--nodes-per-region 1] [--base-port 7000]
                       [--data-dir .geobroker/local] [--wan-delay 30ms | eu-us=40ms,eu-ap=80ms,us-ap=90ms]
                       [--no-tls] [--cors-origin http://127.0.0.1:8080,...] [--reset]

First start: generates a CA, node certificates and an admin user, and writes everything under the data
folder; later starts reuse it and keep the data. Client ports are base-port+i, peer ports
base-port+100+i, HTTP (/healthz /readyz /metrics) base-port+200+i. --wan-delay adds a one-way delay on
peer links between regions. --cors-origin lets browser pages of these origins call the client ports
(the browser example: npm run example:browser). --reset deletes the folder first. Ctrl-C stops every node cleanly.`;

export const localCommand: Command = {
  name: "local",
  summary: "run a local multi-region cluster on loopback (what `npm start` runs)",
  usage,
  async run(args) {
    const values = parseFlags("local", usage, args, {
      regions: { type: "string", default: "eu,us,ap" },
      "nodes-per-region": { type: "string", default: "1" },
      "base-port": { type: "string", default: "7000" },
      "data-dir": { type: "string", default: join(projectRoot(), ".geobroker", "local") },
      "wan-delay": { type: "string", default: "" },
      "no-tls": { type: "boolean", default: false },
      "cors-origin": { type: "string", default: "" },
      reset: { type: "boolean", default: false },
    });
    if (!values) return 2;
    const regions = String(values.regions)
      .split(",")
      .map((r) => r.trim())
      .filter(Boolean);
    const nodesPerRegion = Number(values["nodes-per-region"]);
    const basePort = Number(values["base-port"]);
    const problems = [
      regions.length === 0 && "--regions: name at least one region",
      regions.some((r) => !/^[a-z0-9-]{1,30}$/.test(r)) && "--regions: lowercase letters, digits and '-'",
      new Set(regions).size !== regions.length && "--regions: each region once",
      !(Number.isInteger(nodesPerRegion) && nodesPerRegion >= 1 && nodesPerRegion <= 9) &&
        "--nodes-per-region: 1 to 9",
      !(Number.isInteger(basePort) && basePort >= 1024 && basePort <= 65000) && "--base-port: 1024 to 65000",
    ].filter(Boolean);
    if (problems.length > 0) {
      console.error(`geobroker local: ${problems.join("; ")}`);
      return 2;
    }
    const dir = String(values["data-dir"]);
    if (values.reset) rmSync(dir, { recursive: true, force: true });
    const say = (line: string) => console.log(line);
    let file: Awaited<ReturnType<typeof prepareLocalCluster>>;
    try {
      file = await prepareLocalCluster(
        {
          regions,
          nodesPerRegion,
          basePort,
          dir,
          wanDelay: String(values["wan-delay"]),
          tls: !values["no-tls"],
          corsOrigins: String(values["cors-origin"])
            .split(",")
            .map((x) => x.trim())
            .filter(Boolean),
        },
        say,
      );
      await checkPorts(file);
    } catch (err) {
      console.error(`geobroker local: ${(err as Error).message}`);
      return 2;
    }
    const cluster = new LocalCluster(file, say);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      say("stopping the local cluster...");
      await cluster.stop();
      say(`stopped; data kept in ${dir}`);
    };
    const stopped = new Promise<void>((resolve) => {
      process.once("SIGINT", () => void stop().then(resolve));
      process.once("SIGTERM", () => void stop().then(resolve));
    });
    cluster.start();
    try {
      await cluster.waitReady(say);
    } catch (err) {
      console.error(`geobroker local: ${(err as Error).message}`);
      await stop();
      return 1;
    }
    const rel = relative(process.cwd(), dir) || ".";
    const first = file.regions[0]!;
    say("");
    say(
      `geobroker local cluster is ready (${file.nodes.length} nodes, ${file.regions.length} regions${file.tls ? ", TLS" : ""})`,
    );
    for (const r of file.regions) say(`  region ${r.name.padEnd(6)} ${r.endpoints.join(", ")}`);
    say(
      file.console
        ? `  console  ${file.console} (every node serves it at /console/; the browser must trust the CA below)`
        : "  console  off: browsers need TLS on the client port (started with --no-tls)",
    );
    say(`  user     ${file.username}`);
    say(`  password ${file.password}`);
    if (file.tls) say(`  CA       ${relative(process.cwd(), file.caPath)}`);
    say(`  details  ${join(rel, "cluster.json")}`);
    say("");
    say("Try it (the CLI reads cluster.json):");
    say(`  bin/geobroker pub orders "hello" --region ${first.name}`);
    say(`  bin/geobroker sub orders --from earliest --region ${file.regions.at(-1)!.name}`);
    say("Ctrl-C stops the cluster; the next start keeps its data.");
    await stopped;
    return 0;
  },
};
