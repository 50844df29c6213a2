import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { check, checkText, describe, resultLine } from "./check.js";
import type { HistoryEvent } from "./events.js";
import type { Rule } from "./rules.js";

// Each rule over a hand-written history that breaks exactly that rule (and a clean one that breaks
// none), so a rule that stopped looking would fail its test.

let clock = 0;
const at = () => (clock += 10);
const pub = (process: string, id: string, ...outcomes: (number | "info" | "fail")[]): HistoryEvent[] =>
  outcomes.flatMap((o): HistoryEvent[] => {
    const invoke: HistoryEvent = { t: at(), type: "invoke", process, partition: 0, id, body: id };
    if (o === "info" || o === "fail")
      return [invoke, { t: at(), type: o, process, partition: 0, id, error: "DeadlineExceeded" }];
    return [invoke, { t: at(), type: "ok", process, partition: 0, id, offset: o }];
  });
const sub = (reader: string, from?: number): HistoryEvent => ({
  t: at(),
  type: "subscribe",
  reader,
  partition: 0,
  ...(from === undefined ? {} : { from }),
});
const deliver = (reader: string, ...bodies: [number, string][]): HistoryEvent[] =>
  bodies.map(([offset, body]) => ({ t: at(), type: "deliver", reader, partition: 0, offset, body }));
const finalRead = (node: string, ...bodies: string[]): HistoryEvent[] =>
  bodies.map((body, offset) => ({
    t: at(),
    type: "deliver",
    reader: `final:${node}`,
    partition: 0,
    offset,
    body,
    final: true,
  }));
const consume = (consumer: string, offset: number, body: string): HistoryEvent => ({
  t: at(),
  type: "consume",
  consumer,
  partition: 0,
  offset,
  body,
});
const floor = (consumer: string, f: number, final?: true): HistoryEvent => ({
  t: at(),
  type: "consumer-floor",
  consumer,
  partition: 0,
  floor: f,
  ...(final ? { final } : {}),
});
const nemesis = (phase: "start" | "heal", fault = "kill -9 n1"): HistoryEvent => ({
  t: at(),
  type: "nemesis",
  phase,
  fault,
});

/** Two messages, the second retried after an unknown outcome, read everywhere, through one fault. */
const clean = (): HistoryEvent[] => [
  sub("sub-0", 0),
  ...pub("pr0", "a", 0),
  nemesis("start"),
  ...pub("pr0", "b", "info", 1),
  nemesis("heal"),
  ...pub("pr0", "c", "fail", 2),
  ...deliver("sub-0", [0, "a"], [1, "b"], [2, "c"]),
  consume("cons", 0, "a"),
  { t: at(), type: "ack", consumer: "cons", partition: 0, offset: 0 },
  floor("cons", 1),
  consume("cons", 1, "b"),
  consume("cons", 1, "b"), // redelivery of an unacknowledged message is allowed
  { t: at(), type: "ack", consumer: "cons", partition: 0, offset: 1 },
  consume("cons", 1, "b"), // also after the client sent its ack: that ack may not have committed
  consume("cons", 2, "c"),
  floor("cons", 3, true),
  ...finalRead("n1", "a", "b", "c"),
  ...finalRead("n2", "a", "b", "c"),
];

/** Asserts that the history breaks `rule` (`times` times) and no other. */
function breaksOnly(h: HistoryEvent[], rule: Rule, times = 1): void {
  const r = check(h);
  const expected = Object.fromEntries(Object.keys(r.counts).map((k) => [k, k === rule ? times : 0]));
  assert.deepEqual(r.counts, expected, r.violations.map((v) => `${v.rule}: ${v.message}`).join("\n"));
}

test("a clean history with retries, redeliveries and a fault breaks no rule", () => {
  const r = check(clean());
  assert.deepEqual(r.violations, []);
  assert.equal(r.acked, 3);
});

test("lost: an acknowledged message missing from one node's final read", () => {
  const h = clean().filter((e) => !(e.type === "deliver" && e.reader === "final:n2" && e.body === "c"));
  breaksOnly(h, "lost");
  assert.match(check(h).violations[0]!.message, /acknowledged c \(offset 2\) is missing from final:n2/);
});

test("duplicated: a retried message stored at two offsets", () => {
  const h = [
    ...pub("pr0", "a", 0),
    ...pub("pr0", "b", "info", 2),
    ...finalRead("n1", "a", "b", "b"),
    ...finalRead("n2", "a", "b", "b"),
  ];
  breaksOnly(h, "duplicated");
});

test("divergent: two nodes hold different unacknowledged messages at one offset", () => {
  const h = [
    ...pub("pr0", "a", 0),
    ...pub("pr1", "x", "info"),
    ...pub("pr2", "y", "info"),
    ...finalRead("n1", "a", "x"),
    ...finalRead("n2", "a", "y"),
  ];
  breaksOnly(h, "divergent");
});

test("reordered: a message sent after another was acknowledged gets a lower offset", () => {
  const h = [...pub("pr0", "a", 1), ...pub("pr0", "b", 0), ...finalRead("n1", "b", "a")];
  breaksOnly(h, "reordered");
});

test("reordered is per producer: two producers may interleave in any order", () => {
  const h = [...pub("pr0", "a", 1), ...pub("pr1", "b", 0), ...finalRead("n1", "b", "a")];
  assert.deepEqual(check(h).violations, []);
});

test("backwards: a subscriber delivered an offset it had passed", () => {
  const h = [...clean(), ...deliver("sub-0", [1, "b"])];
  breaksOnly(h, "backwards");
});

test("redelivered: a durable consumer delivered a message below its committed ack floor", () => {
  const h = [...clean(), floor("cons", 3), consume("cons", 0, "a")];
  breaksOnly(h, "redelivered");
  assert.match(check(h).violations[0]!.message, /offset 0 \(a\) delivered again after its ack committed/);
});

test("consumer-lost: an acknowledged message below the final floor never delivered to the consumer", () => {
  const h = clean().filter((e) => !(e.type === "consume" && e.body === "b"));
  breaksOnly(h, "consumer-lost");
  assert.match(
    check(h).violations[0]!.message,
    /b \(offset 1\) is below its ack floor 3 but was never delivered/,
  );
});

test("consumer-lost: the consumer's final floor stops short of an acknowledged message", () => {
  const h = clean().map((e) => (e.type === "consumer-floor" && e.final ? { ...e, floor: 2 } : e));
  breaksOnly(h, "consumer-lost");
  assert.match(check(h).violations[0]!.message, /c \(offset 2\) is above its final ack floor 2/);
});

test("backwards: a durable consumer's ack floor moved back", () => {
  const h = [...clean(), floor("cons", 0)];
  breaksOnly(h, "backwards");
});

test("gap: a subscription that skipped an offset", () => {
  const h = [...pub("pr0", "a", 0), ...pub("pr0", "b", 1), ...pub("pr0", "c", 2)];
  breaksOnly(
    [...h, sub("s", 0), ...deliver("s", [0, "a"], [2, "c"]), ...finalRead("n1", "a", "b", "c")],
    "gap",
  );
  // A resubscription must start where it asked to.
  breaksOnly(
    [
      ...h,
      sub("s", 0),
      ...deliver("s", [0, "a"]),
      sub("s", 1),
      ...deliver("s", [2, "c"]),
      ...finalRead("n1", "a", "b", "c"),
    ],
    "gap",
  );
});

test("vanished: a subscriber read an unacknowledged message that no final read holds", () => {
  const h = [
    ...pub("pr0", "a", 0),
    ...pub("pr0", "b", "info"),
    sub("s", 0),
    ...deliver("s", [0, "a"], [1, "b"]),
    ...finalRead("n1", "a"),
  ];
  breaksOnly(h, "vanished");
});

test("an unacknowledged message that stayed is no violation", () => {
  const h = [
    ...pub("pr0", "a", 0),
    ...pub("pr0", "b", "info"),
    sub("s", 0),
    ...deliver("s", [0, "a"], [1, "b"]),
    ...finalRead("n1", "a", "b"),
  ];
  assert.deepEqual(check(h).violations, []);
});

test("unresumed: a producer never acknowledged again after a fault", () => {
  const h = [
    ...clean(),
    nemesis("start", "pause n2"),
    ...pub("pr0", "d", "info"),
    nemesis("heal", "pause n2"),
  ];
  breaksOnly(h, "unresumed", 2);
});

test("resume times: from the fault's start and heal to the first ack of an attempt started after it", () => {
  const h: HistoryEvent[] = [
    { t: 0, type: "invoke", process: "p", partition: 0, id: "a", body: "a" },
    { t: 5, type: "nemesis", phase: "start", fault: "f" },
    // The attempt in flight at the fault is acknowledged late: it does not count as resumed.
    { t: 900, type: "ok", process: "p", partition: 0, id: "a", offset: 0 },
    { t: 1000, type: "invoke", process: "p", partition: 0, id: "b", body: "b" },
    { t: 1005, type: "nemesis", phase: "heal", fault: "f" },
    { t: 1200, type: "ok", process: "p", partition: 0, id: "b", offset: 1 },
    { t: 1300, type: "invoke", process: "p", partition: 0, id: "c", body: "c" },
    { t: 1350, type: "ok", process: "p", partition: 0, id: "c", offset: 2 },
    ...finalRead("n", "a", "b", "c"),
  ];
  const r = check(h);
  assert.deepEqual(r.violations, []);
  assert.equal(r.faults[0]!.afterStartMs.get("p"), 1195);
  assert.equal(r.faults[0]!.afterHealMs.get("p"), 345);
  assert.equal(r.resumeP99Ms, 1195);
  assert.equal(
    resultLine(r, 12.4),
    "RESULT chaos seconds=12 faults=1 acked=3 lost=0 duplicated=0 divergent=0 reordered=0 resume_p99_ms=1195",
  );
});

const retention = (phase: "start" | "end"): HistoryEvent => ({
  t: at(),
  type: "retention",
  phase,
  maxAgeMs: 4000,
});
const retry = (id: string, offset: number): HistoryEvent[] => [
  { t: at(), type: "invoke", process: "retrier-1", partition: 0, id, body: id, retry: true },
  { t: at(), type: "ok", process: "retrier-1", partition: 0, id, offset },
];

/** a and b acknowledged, then a short retention window removes them; c after the window. */
const retained = (): HistoryEvent[] => [
  sub("sub-0", 0),
  ...pub("pr0", "a", 0),
  ...pub("pr0", "b", 1),
  ...deliver("sub-0", [0, "a"]),
  retention("start"),
  ...retry("a", 0), // a retry of a message retention may have removed: answered from the dedup window
  retention("end"),
  ...pub("pr0", "c", 2),
  sub("sub-0", 1), // resumed at another node after the cut: starts at the oldest retained message
  ...deliver("sub-0", [2, "c"]),
  ...[
    ["n1", "n2"].map(
      (node): HistoryEvent => ({
        t: at(),
        type: "deliver",
        reader: `final:${node}`,
        partition: 0,
        offset: 2,
        body: "c",
        final: true,
      }),
    ),
  ].flat(),
];

test("retention: a prefix acknowledged before the short window ended may be gone; a retry keeps its offset", () => {
  const r = check(retained());
  assert.deepEqual(r.violations, []);
  assert.deepEqual([...r.faults], []);
});

test("lost: retention removed nothing that was acknowledged after its window ended", () => {
  // The window ended before a and b were acknowledged: their absence is a loss again.
  const h = [retention("start"), retention("end"), ...retained().filter((e) => e.type !== "retention")];
  breaksOnly(h, "lost", 2);
});

test("lost: without a retention window a missing prefix is a loss, and so is a subscription's skip", () => {
  const h = retained().filter((e) => e.type !== "retention");
  const r = check(h);
  assert.equal(r.counts.lost, 2);
  assert.equal(r.counts.gap, 1);
});

test("duplicated: a retried message id stored again at a new offset (dedup failed)", () => {
  const h = [...pub("pr0", "a", 0), ...retry("a", 1), ...finalRead("n1", "a", "a")];
  breaksOnly(h, "duplicated");
});

test("a retrying process is no producer: it is not held to resume after later faults", () => {
  const h = [...retained(), nemesis("start", "pause n2"), ...pub("pr0", "d", 3), nemesis("heal", "pause n2")];
  const r = check(h);
  assert.deepEqual([...r.faults[0]!.afterStartMs.keys()], ["pr0"]);
});

test("resume times per fault kind: median, p90 and max of each fault's worst producer", () => {
  const fault = (kind: string, start: number, ack: number): HistoryEvent[] => [
    { t: start, type: "nemesis", phase: "start", fault: `${kind}@${start}`, kind },
    { t: start + 1, type: "invoke", process: "p", partition: 0, id: `m${start}`, body: `m${start}` },
    { t: ack, type: "ok", process: "p", partition: 0, id: `m${start}`, offset: start },
    { t: ack + 1, type: "nemesis", phase: "heal", fault: `${kind}@${start}`, kind },
  ];
  const h = [
    ...fault("kill-leader", 100, 600),
    ...fault("kill-leader", 1000, 2500),
    ...fault("pause-leader", 5000, 5100),
  ];
  const lines = describe(check(h)).filter((l) => l.includes("resume after"));
  assert.deepEqual(lines, [
    "  resume after kill-leader (n=2): median 500 ms, p90 1500 ms, max 1500 ms",
    "  resume after pause-leader (n=1): median 100 ms, p90 100 ms, max 100 ms",
  ]);
});

test("a quorum loss is due to resume only from its heal, and its resume time counts from there", () => {
  const h: HistoryEvent[] = [
    {
      t: 0,
      type: "nemesis",
      phase: "start",
      fault: "power loss of a and b",
      kind: "power-loss",
      quorumLost: true,
    },
    { t: 10, type: "invoke", process: "p", partition: 0, id: "a", body: "a" },
    {
      t: 20_000,
      type: "nemesis",
      phase: "heal",
      fault: "power loss of a and b",
      kind: "power-loss",
      quorumLost: true,
    },
    { t: 20_100, type: "invoke", process: "p", partition: 0, id: "a", body: "a" }, // the retry
    { t: 20_300, type: "ok", process: "p", partition: 0, id: "a", offset: 0 },
    ...finalRead("n", "a"),
  ];
  const r = check(h);
  assert.deepEqual(r.violations, []);
  assert.equal(r.resumeP99Ms, 300);
  // Without the mark the same history counts 20.3 s from the fault's start.
  const plain = check(h.map((e) => (e.type === "nemesis" ? { ...e, quorumLost: false } : e)));
  assert.equal(plain.resumeP99Ms, 20_300);
});

test("the reader refuses a line it cannot understand, naming it", () => {
  const good = '{"t":1,"type":"invoke","process":"p","partition":0,"id":"a","body":"a"}';
  assert.equal(checkText(`${good}\n\n`).acked, 0);
  assert.throws(() => checkText(`${good}\n{"t":2,"type":"ok"`), /line 2: not JSON/);
  assert.throws(() => checkText('{"t":2,"type":"oops"}'), /line 1: unknown event type "oops"/);
  assert.throws(
    () => checkText('{"t":2,"type":"ok","process":"p","partition":0,"id":"a","offset":"3"}'),
    /offset must be a number/,
  );
  assert.throws(() => checkText('{"type":"nemesis","phase":"start","fault":"f"}'), /t must be a number/);
  assert.throws(
    () => checkText('{"t":2,"type":"consumer-floor","consumer":"c","partition":0,"floor":1,"final":"yes"}'),
    /final must be a boolean/,
  );
});

test("the checker shares no code: its files import only each other and node: modules", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/broker/test/chaos/history -> the sources
  const src = resolve(here, "../../../../../broker/test/chaos/history");
  for (const name of readdirSync(src).filter((n) => n.endsWith(".ts"))) {
    const text = readFileSync(join(src, name), "utf8");
    // Static imports and re-exports (at the start of a line), and dynamic imports anywhere.
    const specifiers = [
      ...text.matchAll(/^(?:import|export)\b[^;]*?from\s+"([^"]+)"/gms),
      ...text.matchAll(/import\(\s*"([^"]+)"/g),
    ].map((m) => m[1]!);
    assert.ok(
      specifiers.length > 0 || name === "events.ts",
      `${name}: no imports found (is the pattern right?)`,
    );
    for (const s of specifiers) assert.ok(/^(node:|\.\/[\w-]+\.js$)/.test(s), `${name} imports ${s}`);
  }
});
