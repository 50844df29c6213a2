import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

// An in-memory Kubernetes API server on 127.0.0.1, just enough for @kubernetes/client-node's
// generic object API: discovery, get, list (label selector k=v), server-side apply, merge patch
// (also on /status), delete, and event creation. It records every request for assertions.

const kinds: Record<string, { plural: string; kind: string }[]> = {
  v1: [
    { plural: "pods", kind: "Pod" },
    { plural: "services", kind: "Service" },
    { plural: "configmaps", kind: "ConfigMap" },
    { plural: "secrets", kind: "Secret" },
    { plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim" },
    { plural: "events", kind: "Event" },
  ],
  "apps/v1": [{ plural: "statefulsets", kind: "StatefulSet" }],
  "policy/v1": [{ plural: "poddisruptionbudgets", kind: "PodDisruptionBudget" }],
  "cert-manager.io/v1": [
    { plural: "issuers", kind: "Issuer" },
    { plural: "certificates", kind: "Certificate" },
  ],
  "geobroker.io/v1alpha1": [
    { plural: "geobrokerclusters", kind: "GeoBrokerCluster" },
    { plural: "geobrokertopics", kind: "GeoBrokerTopic" },
    { plural: "geobrokerusers", kind: "GeoBrokerUser" },
  ],
};

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: unknown;
}

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string };
} & Record<string, unknown>;

export class FakeApiServer {
  readonly objects = new Map<string, Obj>();
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  private version = 1;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) =>
      this.handle(req, res).catch((err: Error) => {
        res
          .writeHead(500, { "content-type": "application/json" })
          .end(JSON.stringify({ kind: "Status", code: 500, message: err.message }));
      }),
    );
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  stop(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }

  put(o: Obj, pluralName?: string): void {
    const plural =
      pluralName ??
      Object.values(kinds)
        .flat()
        .find((k) => k.kind === o.kind)!.plural;
    this.objects.set(`${plural}/${o.metadata.namespace}/${o.metadata.name}`, {
      ...o,
      metadata: { ...o.metadata, resourceVersion: String(this.version++) },
    });
  }

  get(plural: string, ns: string, name: string): Obj | undefined {
    return this.objects.get(`${plural}/${ns}/${name}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const body = raw ? JSON.parse(raw) : undefined;
    const contentType = req.headers["content-type"] ?? "";
    this.requests.push({
      method: req.method ?? "",
      path: url.pathname,
      query: url.searchParams,
      contentType,
      body,
    });
    const send = (code: number, o: unknown): void => {
      res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(o));
    };
    const notFound = (): void =>
      send(404, {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        reason: "NotFound",
        code: 404,
        message: `${url.pathname} not found`,
      });

    const m =
      /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?(?:\/([^/]+))?(?:\/([^/]+))?(?:\/(status))?$/.exec(
        url.pathname,
      );
    if (!m) return notFound();
    const gv = m[1] ?? m[2]!;
    const [ns, plural, name, sub] = [m[3], m[4], m[5], m[6]];
    const known = kinds[gv];
    if (!known) return notFound();
    if (!plural) {
      return send(200, {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: gv,
        resources: known.map((k) => ({
          name: k.plural,
          singularName: "",
          kind: k.kind,
          namespaced: true,
          verbs: ["get", "list", "patch"],
        })),
      });
    }
    const kind = known.find((k) => k.plural === plural);
    if (!kind) return notFound();
    const key = `${plural}/${ns}/${name}`;

    if (req.method === "GET" && !name) {
      const [lk, lv] = (url.searchParams.get("labelSelector") ?? "=").split("=");
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(`${plural}/${ns ?? ""}`))
        .map(([, o]) => o)
        .filter((o) => !lk || (o.metadata.labels as Record<string, string> | undefined)?.[lk] === lv);
      return send(200, {
        apiVersion: gv,
        kind: `${kind.kind}List`,
        metadata: { resourceVersion: String(this.version) },
        items,
      });
    }
    if (req.method === "GET") {
      const o = this.objects.get(key);
      return o ? send(200, o) : notFound();
    }
    if (req.method === "POST") {
      const o = {
        ...body,
        metadata: {
          ...body.metadata,
          name: body.metadata.name ?? `${body.metadata.generateName}${this.version}`,
        },
      };
      this.put(o, plural);
      return send(201, o);
    }
    if (req.method === "DELETE") {
      if (!this.objects.delete(key)) return notFound();
      return send(200, { kind: "Status", apiVersion: "v1", status: "Success" });
    }
    if (req.method === "PATCH") {
      const existing = this.objects.get(key);
      let next: Obj;
      if (contentType.startsWith("application/apply-patch")) {
        next = {
          ...(existing ?? {}),
          ...body,
          metadata: { ...(existing?.metadata ?? {}), ...body.metadata },
        };
      } else {
        if (!existing) return notFound();
        next = mergePatch(existing, sub === "status" ? { status: body.status } : body) as Obj;
      }
      this.put(next, plural);
      return send(200, this.objects.get(key));
    }
    send(405, { kind: "Status", code: 405 });
  }
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
