import { InProcessCluster } from "./dist/broker/test/support/in-process-cluster.js";
const nodes = [{ id: "eu-0", region: "eu" },{ id: "eu-1", region: "eu" },{ id: "us-0", region: "us" }];
const t0 = Date.now();
const keep = setInterval(() => {}, 1000);
const c = await InProcessCluster.start({ nodes, seed: 2 });
console.log("started", Date.now()-t0);
await c.ready(); console.log("ready", Date.now()-t0);
await c.clients("eu-0").topics.createTopic({ topic: { name: "n", partitions: 1, replicationFactor: 3 } });
console.log("created", Date.now()-t0);
for (let i=0;i<10;i++) { const s=Date.now(); try { await c.clients(nodes[i%3].id).publish.publish({ topic: "n", body: new Uint8Array([i]) }); console.log("pub", i, Date.now()-s); } catch (e) { console.log("ERR", e.message, Date.now()-s); } }
await c.stop(); clearInterval(keep);
