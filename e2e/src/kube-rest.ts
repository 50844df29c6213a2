import { request as httpsRequest, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";

// The e2e suite's client for the API server: plain REST over the admin kubeconfig's TLS
// credentials, with list+watch. Small on purpose: the test harness plays kubelet, provisioner and
// user, and reads best as the HTTP calls those make.

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    ownerReferences?: unknown[];
    [key: string]: unknown;
  };
  // biome-ignore lint/suspicious/noExplicitAny: objects of every kind pass through here
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: objects of every kind pass through here
  status?: any;
  // biome-ignore lint/suspicious/noExplicitAny: ConfigMap/Secret payloads
  data?: any;
  [key: string]: unknown;
}

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type WatchEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; object: KubeObject };

export const mergePatch = "application/merge-patch+json";

export class Kube {
  private constructor(
    private readonly base: URL,
    private readonly tls: RequestOptions,
  ) {}

  static async fromKubeconfig(file: string): Promise<Kube> {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${file} has no current cluster`);
    const tls: RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    return new Kube(new URL(cluster.server), tls);
  }

  private send(method: string, path: string, body?: unknown, contentType = "application/json") {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          ...this.tls,
          method,
          headers: {
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  async request<T = KubeObject>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<T> {
    const { status, text } = await this.send(method, path, body, contentType);
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : {}) as T;
    let reason = "Unknown";
    let message = text;
    try {
      const parsed = JSON.parse(text) as { reason?: string; message?: string };
      reason = parsed.reason ?? reason;
      message = parsed.message ?? text;
    } catch {}
    throw new KubeError(status, reason, `${method} ${path}: ${status} ${message}`);
  }

  /** GET, with undefined for 404. */
  async get<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", path);
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list(path: string): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const list = await this.request<{ items: KubeObject[]; metadata: { resourceVersion: string } }>(
      "GET",
      path,
    );
    return { items: list.items, resourceVersion: list.metadata.resourceVersion };
  }

  /** Creates; an object that already exists is not an error (returns undefined). */
  async create(path: string, body: KubeObject): Promise<KubeObject | undefined> {
    try {
      return await this.request("POST", path, body);
    } catch (err) {
      if (err instanceof KubeError && err.status === 409) return undefined;
      throw err;
    }
  }

  patch(path: string, body: unknown): Promise<KubeObject> {
    return this.request("PATCH", path, body, mergePatch);
  }

  /** Deletes; a missing object is not an error. */
  async delete(path: string, options?: Record<string, unknown>): Promise<void> {
    try {
      await this.request("DELETE", path, options);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
    }
  }

  /**
   * List, then watch from the list's version; relists after the watch ends or expires (410).
   * Calls `onEvent` for every object (listed objects as ADDED). Returns a stop function.
   */
  informer(path: string, onEvent: (event: WatchEvent) => void, onError?: (err: Error) => void): () => void {
    let stopped = false;
    let current: { destroy(): void } | undefined;
    const known = new Map<string, KubeObject>();
    const loop = async () => {
      while (!stopped) {
        try {
          const { items, resourceVersion } = await this.list(path);
          const seen = new Set<string>();
          for (const item of items) {
            const uid = item.metadata.uid ?? item.metadata.name;
            seen.add(uid);
            known.set(uid, item);
            onEvent({ type: "ADDED", object: item });
          }
          for (const [uid, object] of known) {
            if (!seen.has(uid)) {
              known.delete(uid);
              onEvent({ type: "DELETED", object });
            }
          }
          await this.watchFrom(
            path,
            resourceVersion,
            (event) => {
              const uid = event.object.metadata.uid ?? event.object.metadata.name;
              if (event.type === "DELETED") known.delete(uid);
              else known.set(uid, event.object);
              onEvent(event);
            },
            (req) => {
              current = req;
              if (stopped) req.destroy();
            },
          );
        } catch (err) {
          if (!stopped) onError?.(err as Error);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    void loop();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }

  private watchFrom(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    onRequest: (req: { destroy(): void }) => void,
  ): Promise<void> {
    const url = new URL(path, this.base);
    url.searchParams.set("watch", "1");
    url.searchParams.set("resourceVersion", resourceVersion);
    url.searchParams.set("allowWatchBookmarks", "false");
    url.searchParams.set("timeoutSeconds", "300");
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ...this.tls, method: "GET" }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`watch ${path}: ${res.statusCode}`));
        }
        let buffered = "";
        res.on("data", (chunk: Buffer) => {
          buffered += chunk.toString();
          let newline = buffered.indexOf("\n");
          while (newline >= 0) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf("\n");
            if (!line) continue;
            const event = JSON.parse(line) as { type: string; object: KubeObject };
            // 410 Gone arrives as an ERROR event: the version is too old, so relist.
            if (event.type === "ERROR") return req.destroy();
            onEvent(event as WatchEvent);
          }
        });
        res.on("end", () => resolve());
        res.on("close", () => resolve());
        res.on("error", reject);
      });
      req.on("error", (err) => reject(err));
      onRequest(req);
      req.end();
    });
  }
}

/** REST path of a namespaced core object. */
export function corePath(namespace: string, plural: string, name?: string): string {
  return `/api/v1/namespaces/${namespace}/${plural}${name ? `/${name}` : ""}`;
}
