import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { Credentials } from "../../src/client/auth.js";
import { GeoBrokerError, toGeoBrokerError } from "../../src/client/errors.js";
import { notLeader } from "../../src/engine/errors.js";

test("a broker error read back from the wire keeps its code, retry safety and leader hint", async () => {
  const transport = createRouterTransport((r) =>
    r.service(ClusterService, {
      getClusterInfo() {
        throw notLeader("partition t/0", { nodeId: "b", region: "us", clientAddress: "b:1" });
      },
    }),
  );
  const err = await createClient(ClusterService, transport)
    .getClusterInfo({})
    .then(() => assert.fail("it throws"), toGeoBrokerError);
  assert.ok(err instanceof GeoBrokerError);
  assert.equal(err.code, Code.Unavailable);
  assert.equal(err.retryable, true);
  assert.equal(err.retrySafe, true);
  assert.deepEqual(err.leaderHint, { nodeId: "b", region: "us", clientAddress: "b:1" });
});

test("a bare failure is neither retry-safe nor given a leader, whatever its text says", () => {
  const e = toGeoBrokerError(new ConnectError("leader: b retry_safe=true", Code.Unavailable));
  assert.equal(e.retrySafe, false);
  assert.equal(e.leaderHint, undefined);
  assert.equal(toGeoBrokerError(new Error("boom")).retryable, false);
});

test("basic credentials are base64 of user:password (UTF-8)", async () => {
  const c = new Credentials({ basic: { user: "ü", password: "p:w" } });
  assert.equal(await c.header(), `Basic ${Buffer.from("ü:p:w").toString("base64")}`);
});

test("a bearer token is refreshed before it expires, once for concurrent calls", async () => {
  let refreshes = 0;
  const now = Date.now();
  const c = new Credentials({
    bearer: {
      token: "old",
      expiresAt: new Date(now + 10_000),
      refresh: async () => {
        refreshes++;
        return { token: `new${refreshes}`, expiresAt: new Date(now + 3_600_000) };
      },
    },
  });
  const [a, b] = await Promise.all([c.header(now), c.header(now)]);
  assert.equal(a, "Bearer new1");
  assert.equal(b, "Bearer new1");
  assert.equal(refreshes, 1);
  assert.equal(await c.header(now + 60_000), "Bearer new1", "not refreshed again while valid");
});

test("an UNAUTHENTICATED answer refreshes the token and tries the call once more", async () => {
  const seen: string[] = [];
  const c = new Credentials({ bearer: { token: "stale", refresh: async () => ({ token: "fresh" }) } });
  const transport = createRouterTransport(
    (r) =>
      r.service(ClusterService, {
        getClusterInfo(_req, ctx) {
          const h = ctx.requestHeader.get("authorization") ?? "";
          seen.push(h);
          if (h !== "Bearer fresh") throw new ConnectError("token expired", Code.Unauthenticated);
          return { clusterId: "x" };
        },
      }),
    { transport: { interceptors: [c.interceptor()] } },
  );
  const res = await createClient(ClusterService, transport).getClusterInfo({});
  assert.equal(res.clusterId, "x");
  assert.deepEqual(seen, ["Bearer stale", "Bearer fresh"]);
});

test("a stream a killed node cancelled (CANCELED) is retryable; an unclassified failure is not", () => {
  const killed = toGeoBrokerError(
    new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled),
  );
  assert.equal(killed.retryable, true);
  assert.equal(killed.retrySafe, false, "its outcome is unknown: only a message id makes a retry safe");
  assert.equal(toGeoBrokerError(new ConnectError("?", Code.Unknown)).retryable, false);
});
