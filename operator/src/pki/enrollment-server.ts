import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { Code } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import type { GeoBrokerCluster } from "../api/types.js";
import type { Logger } from "../controller/logger.js";
import { type CaPem, signLeaf } from "./ca.js";
import { parseCsr } from "./csr.js";
import {
  type PodFacts,
  type Refusal,
  signingDecision,
  type TokenReviewStatus,
  tokenIdentity,
} from "./peer-signing.js";
import type { ClusterKey } from "./pki-store.js";

// The operator's enrollment endpoint: `POST /v1/peer-certificates` with the broker pod's projected
// service-account token (`authorization: Bearer ...`, audience geobroker-operator) and a JSON body
// `{"csr": "<PEM>"}`; the answer is `{"certificate", "ca", "notAfter"}` or a Connect error JSON
// (`{"code", "message"}`, HTTP status as Connect maps the code). Every input is bounded before any
// work: the headers (Node's limit), the token, the body, the request time, the requests per client
// address and the TokenReviews in flight (docs/operator.md "Peer certificates", decision 0065).

export interface EnrollmentLimits {
  maxBodyBytes: number;
  maxTokenChars: number;
  /** Requests per client address: a bucket of `perAddressBurst`, refilled at `perAddressPerSecond`. */
  perAddressBurst: number;
  perAddressPerSecond: number;
  /** Requests being checked at once (TokenReview, pod read, signature). */
  maxInFlight: number;
  /** Whole request, headers and body. */
  requestMs: number;
  /** Lifetime of a signed peer certificate (the broker renews at two thirds). */
  certificateLifetimeMs: number;
}

export const defaultEnrollmentLimits: EnrollmentLimits = {
  maxBodyBytes: 16 * 1024,
  maxTokenChars: 8 * 1024,
  perAddressBurst: 20,
  perAddressPerSecond: 2,
  maxInFlight: 16,
  requestMs: 10_000,
  certificateLifetimeMs: 7 * 24 * 3600_000,
};

export interface EnrollmentDeps {
  /** TokenReview of `token` for the enrollment audience. */
  reviewToken(token: string): Promise<TokenReviewStatus | undefined>;
  pod(namespace: string, name: string): Promise<PodFacts | undefined>;
  cluster(namespace: string, name: string): Promise<GeoBrokerCluster | undefined>;
  peerCa(cluster: ClusterKey): Promise<CaPem>;
  log: Logger;
  now?: () => Date;
}

export const enrollmentPath = "/v1/peer-certificates";

class Failure extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

const fail = (code: Code, message: string) => new Failure({ ok: false, code, message });

/** Per-address token buckets, bounded in size (full buckets are forgotten first). */
class AddressRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {}
  take(address: string): boolean {
    const t = this.now();
    const b = this.buckets.get(address) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    if (this.buckets.size >= 10_000 && !this.buckets.has(address)) this.forgetFull(t);
    this.buckets.set(address, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
  private forgetFull(t: number) {
    for (const [a, b] of this.buckets)
      if (b.tokens + ((t - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(a);
  }
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw fail(Code.ResourceExhausted, `the request body is over ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw fail(Code.ResourceExhausted, `the request body is over ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The request handler, apart from the server so that tests can drive it over plain HTTP too. */
export function enrollmentHandler(deps: EnrollmentDeps, limits: EnrollmentLimits = defaultEnrollmentLimits) {
  const now = () => deps.now?.() ?? new Date();
  const rate = new AddressRate(limits.perAddressBurst, limits.perAddressPerSecond, () => now().getTime());
  let inFlight = 0;

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    if (res.headersSent) return;
    res
      .writeHead(status, { "content-type": "application/json", connection: "close" })
      .end(JSON.stringify(body));
  };

  const enroll = async (req: IncomingMessage): Promise<Record<string, string>> => {
    if (req.method !== "POST") throw fail(Code.Unimplemented, `use POST ${enrollmentPath}`);
    const auth = req.headers.authorization ?? "";
    if (auth.length > limits.maxTokenChars + 7)
      throw fail(Code.ResourceExhausted, `the token is over ${limits.maxTokenChars} characters`);
    const m = /^Bearer ([A-Za-z0-9._-]+)$/i.exec(auth);
    if (!m)
      throw fail(
        Code.Unauthenticated,
        "authorization: Bearer <the pod's projected service-account token> is required",
      );
    const body = await readBody(req, limits.maxBodyBytes);
    let parsed: { csr?: unknown };
    try {
      parsed = JSON.parse(body.toString("utf8")) as { csr?: unknown };
    } catch {
      throw fail(Code.InvalidArgument, 'the body must be JSON: {"csr": "<PEM certificate request>"}');
    }
    const csr = await parseCsr(parsed?.csr);
    if (!csr.ok) throw new Failure(csr);
    const who = tokenIdentity(await deps.reviewToken(m[1]!));
    if (!who.ok) throw new Failure(who);
    const pod = await deps.pod(who.namespace, who.podName);
    const clusterName = pod?.metadata.labels?.["geobroker.io/cluster"];
    const cluster = clusterName ? await deps.cluster(who.namespace, clusterName) : undefined;
    const grant = signingDecision({ who, commonName: csr.commonName, pod, cluster });
    if (!grant.ok) throw new Failure(grant);
    const ca = await deps.peerCa(grant.cluster);
    const leaf = await signLeaf(ca, {
      commonName: grant.commonName,
      dnsNames: grant.dnsNames,
      usages: ["serverAuth", "clientAuth"],
      publicKey: csr.publicKey,
      now: now(),
      lifetimeMs: limits.certificateLifetimeMs,
    });
    deps.log.info("signed a peer certificate", {
      pod: `${who.namespace}/${who.podName}`,
      cluster: grant.cluster.name,
      notAfter: leaf.notAfter.toISOString(),
    });
    return { certificate: leaf.cert, ca: ca.cert, notAfter: leaf.notAfter.toISOString() };
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const address = req.socket.remoteAddress ?? "unknown";
    const refuse = (f: Refusal, logIt: boolean) => {
      if (logIt)
        deps.log.warn("refused a peer certificate request", {
          address,
          code: codeToString(f.code),
          reason: f.message,
        });
      answer(res, codeToHttpStatus(f.code), { code: codeToString(f.code), message: f.message });
      // Whatever the client still sends is not read.
      req.resume();
    };
    if ((req.url ?? "").split("?")[0] !== enrollmentPath) {
      refuse({ ok: false, code: Code.NotFound, message: `the only path is ${enrollmentPath}` }, false);
      return;
    }
    if (!rate.take(address)) {
      const message = `too many requests from ${address} (${limits.perAddressPerSecond}/s, bursts of ${limits.perAddressBurst})`;
      refuse({ ok: false, code: Code.ResourceExhausted, message }, false);
      return;
    }
    if (inFlight >= limits.maxInFlight) {
      refuse(
        {
          ok: false,
          code: Code.Unavailable,
          message: "the operator is checking other requests; retry shortly",
        },
        false,
      );
      return;
    }
    inFlight++;
    enroll(req)
      .then((body) => answer(res, 200, body))
      .catch((err: unknown) => {
        if (err instanceof Failure) refuse(err.refusal, true);
        else {
          deps.log.error("peer certificate request failed", { address, error: String(err) });
          refuse(
            { ok: false, code: Code.Unavailable, message: "the operator could not check the request; retry" },
            false,
          );
        }
      })
      .finally(() => inFlight--);
  };
}

export interface EnrollmentServerOptions {
  port: number;
  host?: string;
  tls: { cert: string; key: string };
}

export function startEnrollmentServer(
  o: EnrollmentServerOptions,
  deps: EnrollmentDeps,
  limits: EnrollmentLimits = defaultEnrollmentLimits,
): Promise<Server> {
  const server = createServer(
    { cert: o.tls.cert, key: o.tls.key, maxHeaderSize: limits.maxTokenChars + 4096 },
    enrollmentHandler(deps, limits),
  );
  server.requestTimeout = limits.requestMs;
  server.headersTimeout = limits.requestMs;
  server.maxConnections = 256;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host ?? "0.0.0.0", () => resolve(server));
  });
}
