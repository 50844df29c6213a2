import assert from "node:assert/strict";
import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { blackhole, delay, FaultProxy, Network, pass, reset } from "./fault-proxy.js";

// The fault proxy with plain sockets: an echo server behind it, a client in front.

let echo: Server;
let echoPort = 0;

before(async () => {
  echo = createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
  echoPort = (echo.address() as { port: number }).port;
});

after(async () => {
  await new Promise<void>((r) => echo.close(() => r()));
});

async function connect(port: number): Promise<Socket> {
  const s = createConnection({ host: "127.0.0.1", port });
  s.on("error", () => {}); // the tests look at "close" and its hadError flag
  await once(s, "connect");
  return s;
}

/** Everything `s` receives within `ms`. */
async function receive(s: Socket, ms: number, until?: number): Promise<string> {
  let got = "";
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      s.off("data", onData);
      resolve(got);
    };
    const onData = (d: Buffer) => {
      got += d.toString();
      if (until !== undefined && got.length >= until) done();
    };
    const timer = setTimeout(done, ms);
    s.on("data", onData);
  });
}

/** Resolves with hadError once `s` closes, or "open" if it is still open after `ms`. */
function closed(s: Socket, ms: number): Promise<boolean | "open"> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    s.once("close", (hadError) => {
      clearTimeout(timer);
      resolve(hadError);
    });
  });
}

test("pass: bytes go both ways unchanged, and a close travels through", async () => {
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: echoPort });
  try {
    const s = await connect(proxy.port);
    const text = "x".repeat(100_000);
    s.write(text);
    assert.equal(await receive(s, 5000, text.length), text);
    s.end();
    assert.equal(await closed(s, 2000), false, "a clean close, no reset");
    assert.equal(proxy.stats.accepted, 1);
    assert.equal(proxy.stats.forwardedBytes, 2 * text.length, "counted in both directions");
    assert.equal(proxy.stats.droppedBytes, 0);
  } finally {
    await proxy.close();
  }
});

test("delay: every chunk waits in each direction, order kept", async () => {
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: echoPort });
  try {
    const s = await connect(proxy.port);
    proxy.setMode(delay(150));
    const started = performance.now();
    let sent = "";
    for (let i = 0; i < 20; i++) {
      const part = `<${i}>`;
      sent += part;
      s.write(part);
      await new Promise((r) => setTimeout(r, 5));
    }
    const got = await receive(s, 5000, sent.length);
    const took = performance.now() - started;
    assert.equal(got, sent, "every chunk, in order");
    assert.ok(took >= 290, `a round trip pays the delay twice (took ${took.toFixed(0)} ms)`);
    proxy.setMode(pass);
    const t2 = performance.now();
    s.write("fast");
    assert.equal(await receive(s, 2000, 4), "fast");
    assert.ok(performance.now() - t2 < 150, "back to pass: no delay");
    s.destroy();
  } finally {
    await proxy.close();
  }
});

test("blackhole: accepted but silent; on heal the holed connections are reset and new ones pass", async () => {
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: echoPort });
  try {
    const old = await connect(proxy.port);
    old.write("before");
    assert.equal(await receive(old, 2000, 6), "before");
    proxy.setMode(blackhole);
    old.write("lost");
    const fresh = await connect(proxy.port); // the connect itself succeeds, as with a real partition
    fresh.write("also lost");
    assert.equal(await receive(old, 300), "", "nothing comes back on the old connection");
    assert.equal(await receive(fresh, 100), "", "nor on one made during the blackhole");
    assert.equal(proxy.stats.droppedBytes, "lost".length + "also lost".length);
    assert.equal(await closed(old, 10), "open", "the sender sees no error while blackholed");

    proxy.setMode(pass);
    assert.equal(await closed(old, 2000), true, "the connection that lost bytes is reset");
    assert.equal(await closed(fresh, 2000), true);
    const next = await connect(proxy.port);
    next.write("after");
    assert.equal(await receive(next, 2000, 5), "after");
    next.destroy();
  } finally {
    await proxy.close();
  }
});

test("a connection that lost nothing during a blackhole survives the heal", async () => {
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: echoPort });
  try {
    const s = await connect(proxy.port);
    proxy.setMode(blackhole);
    proxy.setMode(pass);
    s.write("still here");
    assert.equal(await receive(s, 2000, 10), "still here");
    s.destroy();
  } finally {
    await proxy.close();
  }
});

test("reset: existing connections get a RST at once, new ones right after connecting", async () => {
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: echoPort });
  try {
    const s = await connect(proxy.port);
    proxy.setMode(reset);
    assert.equal(await closed(s, 2000), true, "reset with an error (ECONNRESET)");
    const again = createConnection({ host: "127.0.0.1", port: proxy.port });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => again.once("error", resolve));
    assert.equal(err.code, "ECONNRESET");
    assert.ok(proxy.stats.resets >= 2);
    proxy.setMode(pass);
    const ok = await connect(proxy.port);
    ok.write("ok");
    assert.equal(await receive(ok, 2000, 2), "ok");
    ok.destroy();
  } finally {
    await proxy.close();
  }
});

test("a target that is down: the client's connection is reset, as a refused dial would be", async () => {
  const down = createServer();
  await new Promise<void>((r) => down.listen(0, "127.0.0.1", () => r()));
  const port = (down.address() as { port: number }).port;
  await new Promise<void>((r) => down.close(() => r()));
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port });
  try {
    const s = await connect(proxy.port);
    assert.equal(await closed(s, 2000), true);
  } finally {
    await proxy.close();
  }
});

test("Network: partitions, isolation and heal set every directed link, and traffic follows", async () => {
  // Three "nodes" that all are the echo server: what matters is which link carries what.
  const nodes = ["a", "b", "c"].map((id) => ({ id, peerAddress: `127.0.0.1:${echoPort}` }));
  const net = await Network.create(nodes);
  try {
    assert.deepEqual(Object.keys(net.dialAddresses("a")).sort(), ["b", "c"]);
    const ab = await connect(Number(net.dialAddresses("a").b!.split(":")[1]));
    const bc = await connect(Number(net.dialAddresses("b").c!.split(":")[1]));

    net.isolate(["a"]);
    const mode = (from: string, to: string) => net.link(from, to).mode.kind;
    assert.equal(mode("a", "b"), "blackhole");
    assert.equal(mode("c", "a"), "blackhole");
    assert.equal(mode("b", "c"), "pass");
    assert.equal(mode("c", "b"), "pass");
    ab.write("cut");
    bc.write("open");
    assert.equal(await receive(bc, 1000, 4), "open", "the majority still talks");
    assert.equal(await receive(ab, 200), "", "the isolated node does not");

    net.partition([["a", "b"]], delay(50)); // c alone, behind slow links
    assert.equal(mode("a", "b"), "pass");
    assert.equal(mode("a", "c"), "delay");
    assert.equal(mode("c", "b"), "delay");
    assert.equal(await closed(ab, 2000), true, "leaving the blackhole reset a->b's holed connection");

    net.heal();
    for (const from of ["a", "b", "c"])
      for (const to of ["a", "b", "c"]) if (from !== to) assert.equal(mode(from, to), "pass");
    const again = await connect(Number(net.dialAddresses("a").b!.split(":")[1]));
    again.write("healed");
    assert.equal(await receive(again, 1000, 6), "healed");
    assert.equal(net.history.length, 3);
    assert.match(net.history[0]!, /partition \[a\] \| \[b, c\] \(blackhole\)/);
    again.destroy();
    bc.destroy();
  } finally {
    await net.close();
  }
});
