import { join } from "node:path";

/** The repository root (this file compiles to dist/e2e/src/paths.js). */
export const repoRoot = new URL("../../../", import.meta.url).pathname;

/** Where one e2e run keeps its state, logs and pod folders; wiped at the start of each run. */
export const runDir = process.env.GEOBROKER_E2E_RUN_DIR ?? join(repoRoot, ".e2e-run");

/** The e2e network: a bridge in the e2e network namespace; pods get addresses from it. */
export const network = {
  bridge: "gbe2e0",
  hostIp: "10.77.0.1",
  prefix: 16,
  /** Pod addresses are 10.77.<1..250>.<1..250>, handed out in order. */
  podBase: "10.77",
} as const;

/** The first address of the Service range: the API server's own `kubernetes` Service. */
export const serviceRange = "10.96.0.0/16";
export const kubernetesService = { ip: "10.96.0.1", port: 443 } as const;
