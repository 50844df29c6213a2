// Where a node's CPU went during a bench cell: a V8 .cpuprofile (node --cpu-prof) cut to the cell's
// measured window and its samples attributed to components of the message path. Pure: the profile
// and the window in, a table of µs per message out (the CLI is bench/src/profile.ts).

/** The parts of a .cpuprofile this reads (V8's Profiler.Profile). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  /** Microseconds on the profiled process's monotonic clock (CLOCK_MONOTONIC on Linux). */
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds between samples; timeDeltas[i] precedes samples[i]. */
  timeDeltas: number[];
}

/**
 * Components, tried in order on a sample's stack from the leaf up: the first frame whose URL (or, for
 * V8's own pseudo-frames, name) matches names the component. A native frame without a URL (a
 * builtin, a C++ binding) is charged to the nearest caller that has one, so `writev` under an http2
 * session counts as http2.
 */
const rules: { component: string; test: (url: string, fn: string) => boolean }[] = [
  { component: "idle", test: (u, f) => !u && f === "(idle)" },
  { component: "gc", test: (u, f) => !u && f === "(garbage collector)" },
  { component: "v8 (program)", test: (u, f) => !u && f === "(program)" },
  { component: "protobuf (@bufbuild/protobuf)", test: (u) => u.includes("/@bufbuild/protobuf/") },
  { component: "connect-rpc", test: (u) => u.includes("/@connectrpc/") },
  {
    component: "rocksdb binding (JS side)",
    test: (u) => /\/node_modules\/(rocksdb|abstract-leveldown|level-[a-z-]+)\//.test(u),
  },
  { component: "metrics (prom-client)", test: (u) => u.includes("/prom-client/") },
  {
    component: "logging (winston)",
    test: (u) => /\/node_modules\/(winston|logform|readable-stream)\//.test(u),
  },
  { component: "other npm packages", test: (u) => u.includes("/node_modules/") },
  {
    component: "node zlib (gzip)",
    test: (u) => u.startsWith("node:zlib") || u.startsWith("node:internal/zlib"),
  },
  { component: "node http2", test: (u) => u.startsWith("node:internal/http2") || u === "node:http2" },
  {
    component: "node streams/net",
    test: (u) => /^node:(internal\/)?(streams?|stream\/|net|internal\/stream_base_commons)/.test(u),
  },
  { component: "node other", test: (u) => u.startsWith("node:") },
  { component: "geobroker raft", test: (u) => u.includes("/broker/src/raft/") },
  { component: "geobroker storage", test: (u) => u.includes("/broker/src/storage/") },
  { component: "geobroker transport (peer links)", test: (u) => u.includes("/broker/src/transport/") },
  {
    component: "geobroker groups (ready loop, batcher)",
    test: (u) => u.includes("/broker/src/cluster/groups/"),
  },
  { component: "geobroker state machines", test: (u) => u.includes("/broker/src/cluster/state/") },
  {
    component: "geobroker publish/forwarding",
    test: (u) => /\/broker\/src\/cluster\/(publish|forwarding)\//.test(u),
  },
  {
    component: "geobroker consumers/read",
    test: (u) => /\/broker\/src\/cluster\/(consumers|read)\//.test(u),
  },
  { component: "geobroker api", test: (u) => /\/broker\/src\/(api|wire|engine)\//.test(u) },
  { component: "geobroker other", test: (u) => u.includes("/broker/src/") || u.includes("/gen/") },
];

export interface Breakdown {
  /** Sampled wall time inside the window, µs (busy + idle). */
  windowUs: number;
  /** Sampled busy time (everything but idle), µs. */
  busyUs: number;
  /** Component -> sampled µs in the window, largest first; includes "idle". */
  components: { component: string; us: number }[];
}

/**
 * Sums the sampled time per component over samples whose timestamp lies in [fromUs, toUs] (on the
 * profile's clock); an unclassified stack counts as "unattributed".
 */
export function breakdown(profile: CpuProfile, fromUs = -Infinity, toUs = Infinity): Breakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const componentOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = componentOf.get(id);
    if (known !== undefined) return known;
    const frames: number[] = [];
    let found = "unattributed";
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const cached = componentOf.get(at);
      if (cached !== undefined) {
        found = cached;
        break;
      }
      frames.push(at);
      const { url, functionName } = byId.get(at)!.callFrame;
      const rule = rules.find((r) => r.test(url, functionName));
      if (rule) {
        found = rule.component;
        break;
      }
    }
    for (const f of frames) componentOf.set(f, found);
    return found;
  };
  const totals = new Map<string, number>();
  let t = profile.startTime;
  let windowUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    // A sample stands for the time until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const c = classify(profile.samples[i]!);
    totals.set(c, (totals.get(c) ?? 0) + dt);
    windowUs += dt;
  }
  const components = [...totals].map(([component, us]) => ({ component, us })).sort((a, b) => b.us - a.us);
  return { windowUs, busyUs: windowUs - (totals.get("idle") ?? 0), components };
}

/**
 * The breakdown as a Markdown table of µs per message: `messages` is the acks in the window;
 * `cpuUs`, when given, is the CPU per message the node's /metrics counted over the cell (the bench's
 * CPU line), and adds a column of each component's share of it.
 */
export function formatBreakdown(title: string, b: Breakdown, messages: number, cpuUs?: number): string {
  const per = (us: number) => (messages > 0 ? (us / messages).toFixed(1) : "na");
  const share = (us: number) => (b.busyUs > 0 ? us / b.busyUs : 0);
  // V8 samples on wall time: on a loaded machine a thread waiting for a core is sampled in whatever
  // it was doing, so the profile's busy time can exceed the CPU the process got. Scaled, each
  // component is its share of the busy samples times the CPU /metrics counted per message.
  const scaled = (us: number) => (cpuUs === undefined ? [] : [(share(us) * cpuUs).toFixed(1)]);
  const rows = b.components
    .filter((c) => c.component !== "idle")
    .map(
      (c) =>
        `| ${[c.component, per(c.us), `${(100 * share(c.us)).toFixed(1)}%`, ...scaled(c.us)].join(" | ")} |`,
    );
  const idle = b.components.find((c) => c.component === "idle")?.us ?? 0;
  const extra = cpuUs === undefined ? [] : ["µs per message, scaled to the measured CPU"];
  return [
    `${title}: ${messages} messages in ${(b.windowUs / 1e6).toFixed(1)} s sampled, busy ${((100 * b.busyUs) / Math.max(1, b.windowUs)).toFixed(0)}%, idle ${per(idle)} µs/msg`,
    "",
    `| ${["component", "sampled µs per message", "share of busy", ...extra].join(" | ")} |`,
    `| --- | ---: | ---: |${extra.map(() => " ---: |").join("")}`,
    ...rows,
    `| ${["**busy total**", `**${per(b.busyUs)}**`, "100%", ...(cpuUs === undefined ? [] : [`**${cpuUs.toFixed(1)}**`])].join(" | ")} |`,
  ].join("\n");
}
