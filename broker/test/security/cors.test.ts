import assert from "node:assert/strict";
import type http2 from "node:http2";
import { test } from "node:test";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { applyCors, corsOriginProblems } from "../../src/security/cors.js";

function exchange(method: string, origin: string | undefined) {
  const headers: Record<string, string> = {};
  let status: number | undefined;
  let ended = false;
  const req = { method, headers: origin ? { origin } : {} } as unknown as http2.Http2ServerRequest;
  const res = {
    setHeader: (k: string, v: string) => {
      headers[k] = v;
    },
    writeHead: (s: number, h: Record<string, string>) => {
      status = s;
      Object.assign(headers, h);
    },
    end: () => {
      ended = true;
    },
  } as unknown as http2.Http2ServerResponse;
  return { req, res, headers, result: () => ({ status, ended }) };
}

test("a preflight from an allowed origin is answered before authentication, with authorization allowed", () => {
  const x = exchange("OPTIONS", "http://127.0.0.1:8080");
  assert.equal(applyCors({ allowedOrigins: ["http://127.0.0.1:8080"] }, x.req, x.res), true);
  assert.deepEqual(x.result(), { status: 204, ended: true });
  assert.equal(x.headers["access-control-allow-origin"], "http://127.0.0.1:8080");
  assert.match(x.headers["access-control-allow-headers"] ?? "", /authorization/);
  assert.match(x.headers["access-control-allow-headers"] ?? "", /connect-protocol-version/i);
  assert.match(x.headers["access-control-allow-methods"] ?? "", /POST/);
});

test("a call from an allowed origin gets the allow headers and goes on to the services", () => {
  const x = exchange("POST", "http://127.0.0.1:8080");
  assert.equal(applyCors({ allowedOrigins: ["*"] }, x.req, x.res), false);
  assert.equal(x.headers["access-control-allow-origin"], "*");
  assert.match(x.headers["access-control-expose-headers"] ?? "", /grpc-status/i);
});

test("another origin, no origin, or no policy: no CORS headers, nothing answered here", () => {
  for (const [policy, origin] of [
    [{ allowedOrigins: ["https://app.example.com"] }, "https://evil.example.com"],
    [{ allowedOrigins: ["https://app.example.com"] }, undefined],
    [undefined, "https://app.example.com"],
    [{ allowedOrigins: [] }, "https://app.example.com"],
  ] as const) {
    const x = exchange("OPTIONS", origin);
    assert.equal(applyCors(policy, x.req, x.res), false);
    assert.deepEqual(x.headers, {});
    assert.deepEqual(x.result(), { status: undefined, ended: false });
  }
});

test("clientCors.allowedOrigins takes origins or *, nothing with a path", () => {
  assert.deepEqual(corsOriginProblems(["https://a.example.com", "http://127.0.0.1:8080", "*"]), []);
  assert.equal(corsOriginProblems(["https://a.example.com/app"]).length, 1);
  assert.equal(corsOriginProblems("https://a.example.com").length, 1);
});

test("a node configuration with a bad clientCors origin is refused, naming it", () => {
  const base = {
    nodeId: "eu-0",
    region: "eu",
    ports: { client: 9000, peer: 9100, http: 9200 },
    peers: [{ id: "eu-0", region: "eu", peerAddress: "127.0.0.1:9100", clientAddress: "127.0.0.1:9000" }],
    auth: { modes: ["none"] },
  };
  assert.deepEqual(resolveConfig([base]).clientCors, { allowedOrigins: [] });
  assert.deepEqual(
    resolveConfig([{ ...base, clientCors: { allowedOrigins: ["*"] } }]).clientCors.allowedOrigins,
    ["*"],
  );
  assert.throws(
    () => resolveConfig([{ ...base, clientCors: { allowedOrigins: ["https://a.example.com/x"] } }]),
    (e: unknown) => e instanceof ConfigError && /clientCors\.allowedOrigins/.test(e.message),
  );
});
