import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it } from "node:test";
import { ApiException } from "@kubernetes/client-node";
import { verifyPassword } from "../../broker/src/security/passwords.js";
import { decideLease } from "../src/controller/leader-election.js";
import { renewDeadlineMs } from "../src/controller/lease-lock.js";
import { createMetrics } from "../src/controller/metrics.js";
import { backoffDelay, WorkQueue } from "../src/controller/work-queue.js";
import { startHttpServer } from "../src/http/server.js";
import { MicroTime } from "../src/kube/micro-time.js";
import { operatorVersion, parseFlags } from "../src/main.js";
import { deterministicHash } from "../src/model/users.js";
import { planTopic } from "../src/plan/topic-plan.js";
import { fakeLeaseApi, startedLock } from "./fake-lease.js";

/** Timers the test advances by hand: no sleeping, no timing assertions. */
class ManualTimers {
  t = 0;
  pending: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.pending.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.pending = this.pending.filter((p) => p.id !== id);
  };
  advance(ms: number) {
    this.t += ms;
    const due = this.pending.filter((p) => p.at <= this.t);
    this.pending = this.pending.filter((p) => p.at > this.t);
    for (const p of due) p.fn();
  }
}

describe("work queue", () => {
  it("deduplicates keys and processes a key added during its run once more afterwards", async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const q = new WorkQueue(async (key) => {
      seen.push(key);
      if (seen.length === 1) await gate;
      return undefined;
    });
    q.add("a");
    q.add("b");
    q.add("b");
    q.add("a"); // "a" is running: marked dirty, runs again after
    release();
    await q.idle();
    assert.deepEqual(seen, ["a", "b", "a"]);
  });

  it("retries a failing key with exponential back-off and forgets failures after a success", async () => {
    const timers = new ManualTimers();
    let calls = 0;
    const retries: number[] = [];
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls <= 3) throw new Error("api server unavailable");
        return undefined;
      },
      { timers, backoff: { baseMs: 100, maxMs: 1_000 }, onError: (_k, _e, ms) => retries.push(ms) },
    );
    q.add("ns/demo");
    await q.idle();
    for (const step of [100, 200, 400]) {
      timers.advance(step);
      await q.idle();
    }
    assert.equal(calls, 4);
    assert.deepEqual(retries, [100, 200, 400]);
    assert.equal(q.failuresOf("ns/demo"), 0);
  });

  it("requeues after the delay a reconcile asks for, keeping the sooner of two delays", async () => {
    const timers = new ManualTimers();
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        return calls === 1 ? { requeueAfterMs: 5_000 } : undefined;
      },
      { timers },
    );
    q.add("k");
    await q.idle();
    q.addAfter("k", 60_000);
    timers.advance(5_000);
    await q.idle();
    assert.equal(calls, 2);
    assert.equal(timers.pending.length, 0);
  });

  it("caps the back-off", () => {
    assert.equal(backoffDelay(1), 100);
    assert.equal(backoffDelay(4), 800);
    assert.equal(backoffDelay(50), 5 * 60_000);
  });
});

describe("leader election decision", () => {
  const t0 = Date.parse("2025-01-01T00:00:00Z");
  it("writes Lease times as MicroTime, six fractional digits, as the API server requires", () => {
    const t = new MicroTime(Date.UTC(2026, 10, 25, 9, 24, 22, 955));
    assert.equal(t.toISOString(), "2026-11-25T09:24:22.955000Z");
    assert.equal(JSON.stringify({ renewTime: t }), '{"renewTime":"2026-11-25T09:24:22.955000Z"}');
  });

  it("a leader whose renewal hangs steps down before its lease can expire", async () => {
    // Every renewal hangs, as on a stalled connection.
    const api = fakeLeaseApi(() => new Promise(() => {}));
    const events: string[] = [];
    const lock = startedLock(api, 1, 50, events);
    const deadline = Date.now() + 3000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    lock.stop();
    assert.equal(events.length, 2, `led, then stepped down: ${events.join(", ")}`);
    const [started, stopped] = events.map((e) => Number(e.split(" ")[1]));
    const ledMs = (stopped as number) - (started as number);
    assert.ok(ledMs < 1000, `stepped down ${ledMs} ms after the last renewal, before the 1 s lease expired`);
    assert.ok(ledMs >= renewDeadlineMs(1) - 100, `not before the renew deadline (${ledMs} ms)`);
  });

  it("a leader keeps leading through one failed renewal within the renew deadline", async () => {
    let failures = 0;
    // The first renewal fails (an API server restart, a 500); the next ones succeed.
    const api = fakeLeaseApi(async (body, store) => {
      if (failures++ === 0) throw new ApiException(500, "etcdserver: leader changed", {}, {});
      store(body);
      return body;
    });
    const events: string[] = [];
    const lock = startedLock(api, 3, 50, events);
    await new Promise((r) => setTimeout(r, 600));
    lock.stop();
    assert.ok(failures >= 3, `renewed again after the failure (${failures} calls)`);
    assert.deepEqual(
      events.map((e) => e.split(" ")[0]),
      ["started"],
    );
  });

  it("acquires a free lease, renews its own, waits for a live one, takes an expired one", () => {
    const first = decideLease(undefined, "a", t0, 15);
    assert.equal(first.kind, "acquire");
    const held = first.kind === "acquire" ? first.lease : {};
    assert.equal(decideLease(held, "a", t0 + 5_000, 15).kind, "renew");
    const other = decideLease(held, "b", t0 + 5_000, 15);
    assert.deepEqual(other, { kind: "wait", holder: "a", expiresInMs: 10_000 });
    const takeover = decideLease(held, "b", t0 + 16_000, 15);
    assert.equal(takeover.kind, "acquire");
    assert.equal(takeover.kind === "acquire" && takeover.lease.leaseTransitions, 1);
  });
});

describe("operator flags", () => {
  it("parses every flag and rejects unknown or malformed ones with a clear message", () => {
    const f = parseFlags(
      [
        "--kubeconfig",
        "/k",
        "--namespace=a,b",
        "--namespace",
        "c",
        "--leader-elect",
        "--metrics-port=9090",
        "--log-level",
        "debug",
        "--enrollment-port=9443",
        "--enrollment-service",
        "gb",
      ],
      { POD_NAMESPACE: "ops" },
    );
    assert.deepEqual(f, {
      kubeconfig: "/k",
      namespaces: ["a", "b", "c"],
      leaderElect: true,
      leaseNamespace: "ops",
      metricsPort: 9090,
      logLevel: "debug",
      pkiNamespace: "ops",
      pkiSecret: "geobroker-operator-pki",
      enrollmentService: "gb",
      enrollmentPort: 9443,
    });
    assert.throws(
      () => parseFlags(["--enrollment-port", "0"]),
      /--enrollment-port must be a port number, got 0/,
    );
    assert.throws(
      () => parseFlags(["--metrics-port", "http"]),
      /--metrics-port must be a port number, got http/,
    );
    assert.throws(() => parseFlags(["--frobnicate"]), /unknown option --frobnicate/);
    assert.throws(() => parseFlags(["--kubeconfig"]), /--kubeconfig needs a value/);
    assert.match(operatorVersion(), /^\d+\.\d+\.\d+/);
  });
});

describe("operator metrics", () => {
  it("reports each work queue's depth at scrape time", async () => {
    const metrics = createMetrics(false);
    const q = new WorkQueue(() => new Promise(() => {}), { workers: 1 });
    metrics.watchQueue("cluster", () => q.length);
    for (const k of ["msg/a", "msg/b", "msg/c"]) q.add(k); // one is taken by the worker
    assert.match(
      await metrics.registry.metrics(),
      /geobroker_operator_queue_depth\{controller="cluster"\} 2/,
    );
    q.stop();
  });
});

describe("operator http endpoints", () => {
  it("serves /healthz, /readyz by readiness, and /metrics in the Prometheus format", async () => {
    const metrics = createMetrics(false);
    metrics.actions.inc({ action: "AddNode" });
    let ready = false;
    const server = await startHttpServer(0, metrics.registry, () => ready, "127.0.0.1");
    const port = (server.address() as { port: number }).port;
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        request({ host: "127.0.0.1", port, path }, (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        })
          .on("error", reject)
          .end();
      });
    try {
      assert.equal((await get("/healthz")).status, 200);
      assert.equal((await get("/readyz")).status, 503);
      ready = true;
      assert.equal((await get("/readyz")).status, 200);
      const m = await get("/metrics");
      assert.match(m.body, /geobroker_operator_membership_actions_total\{action="AddNode"\} 1/);
      assert.equal((await get("/nope")).status, 404);
    } finally {
      server.close();
    }
  });
});

describe("user password hashes", () => {
  it("are in the broker's scrypt format, verify with the broker's own check, and are stable", async () => {
    const h = deterministicHash("s3cret", "msg/alice/uid-1");
    assert.match(h, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifyPassword("s3cret", h), true);
    assert.equal(await verifyPassword("wrong", h), false);
    assert.equal(deterministicHash("s3cret", "msg/alice/uid-1"), h);
    assert.notEqual(deterministicHash("s3cret", "msg/bob/uid-2"), h);
  });
});

describe("topic planning", () => {
  const existing = {
    name: "orders",
    partitions: 2,
    replicationFactor: 3,
    retention: { maxAgeMs: 1000n, maxBytes: 0n, maxMessages: 0n, keepUnacknowledged: true },
    homeRegion: "eu",
  };
  it("creates a missing topic with the spec, 0 meaning the cluster default", () => {
    const step = planTopic("orders", { clusterRef: { name: "demo" } }, undefined);
    assert.equal(step.kind, "create");
    assert.equal(step.kind === "create" && step.topic.partitions, 0);
  });
  it("updates retention and home region in place", () => {
    const step = planTopic(
      "orders",
      { clusterRef: { name: "demo" }, retention: { maxAgeMs: 2000 }, homeRegion: "us" },
      existing,
    );
    assert.equal(step.kind, "update");
    assert.deepEqual(step.kind === "update" && step.changed, ["retention.maxAgeMs", "homeRegion"]);
  });
  it("refuses a partition change with a clear message, and does nothing when in sync", () => {
    const conflict = planTopic(
      "orders",
      { clusterRef: { name: "demo" }, partitions: 4, homeRegion: "eu" },
      existing,
    );
    assert.equal(conflict.kind, "conflict");
    assert.match(
      conflict.kind === "conflict" ? conflict.message : "",
      /partitions: the topic has 2, the spec asks 4/,
    );
    assert.deepEqual(
      planTopic("orders", { clusterRef: { name: "demo" }, partitions: 2, homeRegion: "eu" }, existing),
      { kind: "none" },
    );
  });
});
