// What TLS + authentication + authorization cost: starts a 3-node cluster (eu, us, ap; one process
// each) without any security, runs a pipelined publish load against it (`geobroker pub --count`),
// stops it, then does the same with TLS on both ports, basic authentication and an ACL, and prints
// msg/s for both. Not part of npm test.
//   npm run build && node dist/scripts/security-overhead.js [--count 20000] [--size 256] [--rounds 3]
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { stringify } from "yaml";
import { createAuthority, issueCertificate } from "../broker/src/security/certs.js";
import { hashPassword } from "../broker/src/security/passwords.js";
import { projectRoot } from "../broker/src/util/project-root.js";
import { freePort } from "../broker/test/support/process-cluster.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "20000" },
    size: { type: "string", default: "256" },
    rounds: { type: "string", default: "3" },
  },
});
const count = Number(values.count);
const size = Number(values.size);
const rounds = Number(values.rounds);
const cli = join(projectRoot(), "dist", "broker", "src", "cli", "main.js");
const regions = ["eu", "us", "ap"];
const password = "bench-password-1";

interface Cluster {
  clientPort: number;
  env: Record<string, string>;
  stop(): Promise<void>;
}

async function startCluster(secure: boolean): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `geobroker-overhead-${secure ? "secure" : "plain"}-`));
  const nodes = [];
  for (const region of regions)
    nodes.push({
      id: `${region}-0`,
      region,
      client: await freePort(),
      peer: await freePort(),
      http: await freePort(),
    });
  const peers = nodes.map((n) => ({
    id: n.id,
    region: n.region,
    zone: "",
    peerAddress: `127.0.0.1:${n.peer}`,
    clientAddress: `127.0.0.1:${n.client}`,
  }));
  let security: (id: string) => Record<string, unknown> = () => ({ auth: { modes: ["none"] } });
  const env: Record<string, string> = { GEOBROKER_ENDPOINT: `127.0.0.1:${nodes[0]!.client}` };
  if (secure) {
    const ca = await createAuthority("overhead CA");
    writeFileSync(join(dir, "ca.crt"), ca.cert);
    for (const n of nodes) {
      const leaf = await issueCertificate(ca, { commonName: n.id, ips: ["127.0.0.1"], client: true });
      writeFileSync(join(dir, `${n.id}.crt`), leaf.cert);
      writeFileSync(join(dir, `${n.id}.key`), leaf.key);
    }
    writeFileSync(
      join(dir, "users.yaml"),
      stringify({ users: [{ name: "bench", passwordHash: await hashPassword(password) }] }),
    );
    writeFileSync(
      join(dir, "acl.yaml"),
      stringify({
        roles: [
          { name: "writer", rules: [{ actions: ["publish", "subscribe", "admin"], topics: ["overhead-*"] }] },
        ],
        users: [{ name: "bench", roles: ["writer"] }],
      }),
    );
    security = (id) => {
      const files = { cert: join(dir, `${id}.crt`), key: join(dir, `${id}.key`), ca: join(dir, "ca.crt") };
      return {
        production: true,
        tls: { client: { ...files, requireClientCert: false }, peer: files },
        auth: { modes: ["basic"], usersFile: join(dir, "users.yaml"), aclFile: join(dir, "acl.yaml") },
      };
    };
    Object.assign(env, {
      GEOBROKER_CA: join(dir, "ca.crt"),
      GEOBROKER_USER: "bench",
      GEOBROKER_PASSWORD: password,
    });
  }
  const children: ChildProcess[] = [];
  for (const n of nodes) {
    const dataDir = join(dir, "data", n.id);
    mkdirSync(dataDir, { recursive: true });
    const config = {
      clusterId: "overhead",
      nodeId: n.id,
      region: n.region,
      listenHost: "127.0.0.1",
      advertiseHost: "127.0.0.1",
      ports: { client: n.client, peer: n.peer, http: n.http },
      dataDir,
      peers,
      raft: { tickMs: 50, electionTicks: 10, heartbeatTicks: 1, keepLogEntries: 10000 },
      log: { level: "warn" },
      ...security(n.id),
    };
    const path = join(dir, `${n.id}.yaml`);
    writeFileSync(path, stringify(config));
    children.push(spawn(process.execPath, [cli, "serve", "--config", path], { stdio: "ignore" }));
  }
  const deadline = Date.now() + 60_000;
  for (const n of nodes) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${n.http}/readyz`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${n.id} not ready within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    clientPort: nodes[0]!.client,
    env,
    stop: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise((resolve) => {
              if (c.exitCode !== null) return resolve(undefined);
              c.once("exit", resolve);
              c.kill("SIGTERM");
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const run = promisify(execFile);

/** One `geobroker pub --count` run on a new topic; returns msg/s from its last line. */
async function load(cluster: Cluster, topic: string): Promise<number> {
  // Created first, so the load measures publishing, not auto-creation racing the pipeline; homed in
  // eu, where the client is, so every round measures the same path (leader local, quorum remote).
  await run(process.execPath, [cli, "topics", "create", topic, "--home-region", "eu"], {
    env: { ...process.env, ...cluster.env },
  });
  const { stdout } = await run(
    process.execPath,
    [cli, "pub", topic, "--count", String(count), "--size", String(size)],
    { env: { ...process.env, ...cluster.env }, maxBuffer: 16 * 1024 * 1024 },
  );
  const match = /(\d+) msg\/s/.exec(stdout);
  if (!match || / [1-9]\d* errors/.test(stdout)) throw new Error(`unexpected pub output:\n${stdout}`);
  return Number(match[1]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const results: Record<string, number[]> = {};
for (const secure of [false, true]) {
  const label = secure ? "TLS + basic + ACL" : "plain (no TLS, auth none)";
  const cluster = await startCluster(secure);
  try {
    await load(cluster, "overhead-warmup").catch((err) => {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`warm-up failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
    });
    results[label] = [];
    for (let i = 0; i < rounds; i++) results[label]!.push(await load(cluster, `overhead-${i}`));
    console.log(`${label}: ${results[label]!.join(", ")} msg/s (median ${median(results[label]!)})`);
  } finally {
    await cluster.stop();
  }
}
const [plain, secure] = Object.values(results).map(median) as [number, number];
console.log(
  `\n${count} messages x ${rounds} rounds of ${size} B, pipelined, one client to eu-0 of a 3-region cluster:\n` +
    `  plain  ${plain} msg/s\n  secure ${secure} msg/s\n  overhead ${(((plain - secure) / plain) * 100).toFixed(1)} %`,
);
