import { request } from "node:http";
import { connect } from "node:net";

// Container probes: the Kubernetes semantics (initial delay, period, timeout, success and failure
// thresholds) as a pure tracker, and the two probe actions this project's pods use.

// biome-ignore lint/suspicious/noExplicitAny: probe specs are free-form JSON
type ProbeSpec = any;

export interface ProbeSettings {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

export function probeSettings(spec: ProbeSpec): ProbeSettings {
  return {
    initialDelayMs: (spec.initialDelaySeconds ?? 0) * 1000,
    periodMs: (spec.periodSeconds ?? 10) * 1000,
    timeoutMs: (spec.timeoutSeconds ?? 1) * 1000,
    successThreshold: spec.successThreshold ?? 1,
    failureThreshold: spec.failureThreshold ?? 3,
  };
}

/** Consecutive results -> the probe's verdict, flipping only after a threshold is reached. */
export class ProbeTracker {
  private successes = 0;
  private failures = 0;
  verdict: "unknown" | "success" | "failure" = "unknown";

  constructor(private readonly settings: ProbeSettings) {}

  record(ok: boolean): void {
    if (ok) {
      this.successes += 1;
      this.failures = 0;
      if (this.successes >= this.settings.successThreshold) this.verdict = "success";
    } else {
      this.failures += 1;
      this.successes = 0;
      if (this.failures >= this.settings.failureThreshold) this.verdict = "failure";
    }
  }
}

/** Resolves a probe's port (a number or a container port name). */
export function resolvePort(
  port: number | string,
  containerPorts: { name?: string; containerPort: number }[],
): number {
  if (typeof port === "number") return port;
  const named = containerPorts.find((p) => p.name === port);
  if (named) return named.containerPort;
  const n = Number(port);
  if (Number.isInteger(n)) return n;
  throw new Error(`port "${port}" is not a container port`);
}

export function httpGet(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}

export function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Runs one probe action against the pod's address. */
export function runProbe(
  spec: ProbeSpec,
  podIp: string,
  containerPorts: { name?: string; containerPort: number }[],
): Promise<boolean> {
  const { timeoutMs } = probeSettings(spec);
  if (spec.httpGet) {
    return httpGet(
      podIp,
      resolvePort(spec.httpGet.port, containerPorts),
      spec.httpGet.path ?? "/",
      timeoutMs,
    );
  }
  if (spec.tcpSocket) return tcpOpen(podIp, resolvePort(spec.tcpSocket.port, containerPorts), timeoutMs);
  return Promise.reject(new Error("only httpGet and tcpSocket probes are supported by this kubelet"));
}
