import { ConfigError, fromEnv, nested, readConfigFile, resolveConfig } from "../config/load.js";
import { createLogger } from "../observability/logger.js";
import { startBrokerProcess } from "../server/broker-process.js";
import { type Command, parseFlags } from "./command.js";

const usage = `geobroker serve: run one broker node

Usage: geobroker serve --config node.yaml [--node-id ID] [--region R] [--zone Z] [--data-dir DIR] [--log-level L]

The configuration is layered: defaults < --config file < GEOBROKER_* environment < flags.
Every field is documented in docs/configuration.md. Stops cleanly on SIGTERM or SIGINT.`;

export const serveCommand: Command = {
  name: "serve",
  summary: "run one broker node",
  usage,
  async run(args) {
    const values = parseFlags("serve", usage, args, {
      config: { type: "string" },
      "node-id": { type: "string" },
      region: { type: "string" },
      zone: { type: "string" },
      "data-dir": { type: "string" },
      "log-level": { type: "string" },
    });
    if (!values) return 2;
    let config: ReturnType<typeof resolveConfig>;
    try {
      const flags = [
        values["node-id"] && nested("nodeId", values["node-id"]),
        values.region && nested("region", values.region),
        values.zone && nested("zone", values.zone),
        values["data-dir"] && nested("dataDir", values["data-dir"]),
        values["log-level"] && nested("log.level", values["log-level"]),
      ].filter((f): f is Record<string, unknown> => Boolean(f));
      config = resolveConfig([
        values.config ? readConfigFile(values.config) : {},
        fromEnv(process.env),
        ...flags,
      ]);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(`geobroker serve: ${err.message}`);
        return 2;
      }
      throw err;
    }
    const logger = createLogger(config.log.level, { node: config.nodeId, region: config.region });
    const slowSyncMs = Number(process.env.GEOBROKER_TEST_SLOW_FSYNC_MS ?? "0");
    let broker: Awaited<ReturnType<typeof startBrokerProcess>>;
    try {
      broker = await startBrokerProcess(config, logger, slowSyncMs > 0 ? { slowSyncMs } : {});
    } catch (err) {
      // Why the node will not serve (its storage refused, a port taken, ...), as its last log line.
      logger.error("cannot start", { err: (err as Error).message });
      return 1;
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info("stopping", { signal });
        broker.stop().then(resolve, (err: Error) => {
          logger.error("unclean stop", { err: err.message });
          resolve();
        });
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
    });
    return 0;
  },
};
