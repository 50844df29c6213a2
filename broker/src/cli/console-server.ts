import http from "node:http";
import http2 from "node:http2";
import { consoleAssets, consolePathPrefix } from "../api/console-assets.js";

// `geobroker console`: the web console for any cluster, from this machine. One local HTTP/1.1 server
// serves the built page and passes the page's API calls to one node's client port over HTTP/2 (TLS
// when a CA is given), so the page keeps calling its own origin, as on a node (decision 0040). The
// browser's Authorization header travels unchanged: the node authenticates and authorizes the user.

/** Only calls of the cluster's services pass: `/geobroker.v1.TopicService/ListTopics`, etc. */
export const proxiedPath = /^\/(geobroker\.v1|grpc\.health\.v1)\.[A-Za-z]+\/[A-Za-z]+$/;

/** Request headers the page's Connect calls carry that the node needs; nothing else is passed on. */
const requestHeaders = [
  "content-type",
  "authorization",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "content-encoding",
  "accept-encoding",
  "grpc-timeout",
  "x-grpc-web",
  "x-user-agent",
];
const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

export interface ConsoleServerOptions {
  /** Where the page is served: 127.0.0.1 unless told otherwise. */
  host: string;
  port: number;
  /** The node's client port, host:port. */
  server: string;
  /** PEM of the CA that signed the node's certificate; left out: cleartext h2c. */
  ca?: Buffer;
  /** The built console (dist/console-app/). */
  assetsDir: string;
}

export interface ConsoleServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startConsoleServer(o: ConsoleServerOptions): Promise<ConsoleServer> {
  const assets = consoleAssets(o.assetsDir);
  let session: http2.ClientHttp2Session | undefined;
  const upstream = () => {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(`${o.ca ? "https" : "http"}://${o.server}`, o.ca ? { ca: o.ca } : {});
    s.on("error", () => {}); // each request reports its own failure
    s.on("close", () => {
      if (session === s) session = undefined;
    });
    session = s;
    return s;
  };
  const fail = (res: http.ServerResponse, status: number, message: string) => {
    if (res.headersSent) return res.destroy();
    // A Connect error body: the client library reports it with its code, as a node's own refusal.
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ code: status === 404 ? "unimplemented" : "unavailable", message }));
  };
  const server = http.createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(308, { location: `${consolePathPrefix}/` });
      return res.end();
    }
    if (assets(req, res)) return;
    const path = (req.url ?? "").split("?")[0]!;
    if (req.method !== "POST" || !proxiedPath.test(path))
      return fail(res, 404, `geobroker console serves ${consolePathPrefix}/ and passes on API calls only`);
    const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": req.url! };
    for (const name of requestHeaders) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = v;
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = upstream().request(headers);
    } catch (err) {
      return fail(res, 503, `node ${o.server}: ${(err as Error).message}`);
    }
    stream.on("response", (h) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(h))
        if (!k.startsWith(":") && !hopByHop.has(k) && v !== undefined) out[k] = v as string | string[];
      res.writeHead(Number(h[":status"] ?? 502), out);
      stream.pipe(res);
    });
    stream.on("error", (err) => fail(res, 503, `node ${o.server}: ${err.message}`));
    // The page left (a subscription stopped): end the call at the node too.
    res.on("close", () => !stream.closed && stream.close(http2.constants.NGHTTP2_CANCEL));
    req.pipe(stream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : o.port,
    close: () =>
      new Promise<void>((resolve) => {
        session?.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
