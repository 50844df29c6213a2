import { connect, type GeoBrokerClient } from "geobroker/client/web";

// One signed-in user's connection: the client SDK's browser transport to the node that served the
// page, and only to it (onlyEndpoints): behind a region-local Service the nodes' own addresses are
// not reachable from a browser, and that node forwards to leaders. The ACL decides what it may do.

export interface Session {
  client: GeoBrokerClient;
  user: string;
  clusterId: string;
  regions: string[];
  /** The node and region that answer this page. */
  nodeId: string;
  region: string;
}

export interface View {
  /** The view's heading; it gets the focus when the view opens. */
  title: string;
  /** Draws into `root`; returns what stops its timers and streams. */
  open(root: HTMLElement, session: Session): () => void;
}

const storageKey = "geobroker-console-credentials";

/** Calls fail fast enough for a page: a retry loop longer than this shows an error instead. */
const retryTimeoutMs = 4000;

export async function signIn(user: string, password: string): Promise<Session> {
  const client = connect({
    endpoints: location.host,
    onlyEndpoints: true,
    tls: location.protocol === "https:",
    auth: { basic: { user, password } },
    retry: { timeoutMs: retryTimeoutMs },
  });
  try {
    const info = await client.admin.clusterInfo();
    // The tab keeps the credentials for reloads (sessionStorage ends with the tab), never longer.
    sessionStorage.setItem(storageKey, JSON.stringify({ user, password }));
    return {
      client,
      user,
      clusterId: info.clusterId,
      regions: info.regions,
      nodeId: info.servedBy?.nodeId ?? "",
      region: info.servedBy?.region ?? "",
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}

export function savedCredentials(): { user: string; password: string } | undefined {
  try {
    const v = JSON.parse(sessionStorage.getItem(storageKey) ?? "null") as {
      user?: unknown;
      password?: unknown;
    };
    return typeof v?.user === "string" && typeof v.password === "string"
      ? { user: v.user, password: v.password }
      : undefined;
  } catch {
    return undefined;
  }
}

export function forgetCredentials(): void {
  sessionStorage.removeItem(storageKey);
}

/** Runs `fn` now and every `ms` until the returned stop is called; a run never overlaps the next. */
export function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = async () => {
    if (stopped) return;
    await fn().catch(() => {});
    if (!stopped) timer = setTimeout(loop, ms);
  };
  void loop();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
