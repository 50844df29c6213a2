#!/usr/bin/env node
import { readFileSync } from "node:fs";
import type { Level } from "./controller/logger.js";
import type { RuntimeOptions } from "./runtime.js";

// geobroker-operator: flags in, runtime started. --version and --help work without a cluster.

const usage = `geobroker-operator: reconciles GeoBrokerCluster, GeoBrokerTopic and GeoBrokerUser resources

Usage: geobroker-operator [options]

Options:
  --kubeconfig <file>        kubeconfig to use (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --namespace <ns>           watch only this namespace; repeat or comma-separate for several (default: all)
  --leader-elect             run only while holding the coordination Lease "geobroker-operator"
  --lease-namespace <ns>     namespace of the Lease (default: $POD_NAMESPACE, else "default")
  --metrics-port <port>      port of /metrics, /healthz and /readyz (default: 8080)
  --log-level <level>        error, warn, info or debug (default: info)
  --pki-namespace <ns>       where the operator keeps its CA keys (default: $POD_NAMESPACE, else "default")
  --pki-secret <name>        the Secret there with the identity CA (default: geobroker-operator-pki)
  --enrollment-service <n>   the Service in front of the peer-certificate endpoint (default: geobroker-operator)
  --enrollment-port <port>   the peer-certificate endpoint's HTTPS port (default: 8443)
  --version                  print the version and exit
  --help                     print this help and exit`;

export function operatorVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** The command line, parsed: exactly what the runtime takes. */
export type Flags = RuntimeOptions;

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): Flags {
  const flags: Flags = {
    namespaces: [],
    leaderElect: false,
    leaseNamespace: env.POD_NAMESPACE || "default",
    metricsPort: 8080,
    logLevel: "info",
    pkiNamespace: env.POD_NAMESPACE || "default",
    pkiSecret: "geobroker-operator-pki",
    enrollmentService: "geobroker-operator",
    enrollmentPort: 8443,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes("=")
      ? (arg.split(/=(.*)/s, 2) as [string, string])
      : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new Error(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case "--kubeconfig":
        flags.kubeconfig = value();
        break;
      case "--namespace":
      case "--namespaces":
        flags.namespaces.push(
          ...value()
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
        );
        break;
      case "--leader-elect":
        flags.leaderElect = inline === undefined ? true : inline === "true";
        break;
      case "--lease-namespace":
        flags.leaseNamespace = value();
        break;
      case "--metrics-port":
      case "--enrollment-port": {
        const v = value();
        const port = Number(v);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new Error(`${name} must be a port number, got ${v}`);
        if (name === "--metrics-port") flags.metricsPort = port;
        else flags.enrollmentPort = port;
        break;
      }
      case "--pki-namespace":
        flags.pkiNamespace = value();
        break;
      case "--pki-secret":
        flags.pkiSecret = value();
        break;
      case "--enrollment-service":
        flags.enrollmentService = value();
        break;
      case "--log-level": {
        const v = value();
        if (!["error", "warn", "info", "debug"].includes(v))
          throw new Error(`--log-level must be error, warn, info or debug, got ${v}`);
        flags.logLevel = v as Level;
        break;
      }
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return flags;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--version") || argv.includes("-v")) {
    console.log(operatorVersion());
    return 0;
  }
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(usage);
    return 0;
  }
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    console.error(`geobroker-operator: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  // Loaded only now: --version must not need the Kubernetes client.
  const { run } = await import("./runtime.js");
  await run(flags);
  return -1;
}

const isEntry =
  process.argv[1] &&
  new URL(import.meta.url).pathname === (await import("node:fs")).realpathSync(process.argv[1]);
if (isEntry) {
  const code = await main(process.argv.slice(2)).catch((err: Error) => {
    console.error(`geobroker-operator: ${err.message}`);
    return 1;
  });
  if (code >= 0) process.exit(code);
}
