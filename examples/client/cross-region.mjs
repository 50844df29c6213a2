// Publish in eu, consume in ap, against `npm start`'s local cluster: node examples/client/cross-region.mjs
import { readFileSync } from "node:fs";
import { connect } from "geobroker/client";

const local = JSON.parse(readFileSync(".geobroker/local/cluster.json", "utf8"));
const options = (region) => ({
  endpoints: local.regions.flatMap((r) => r.endpoints), // any node will do: the rest is discovered
  region, // this region's nodes are preferred
  auth: { basic: { user: local.username, password: local.password } },
  tls: { ca: readFileSync(local.caPath) },
});

const eu = connect(options("eu"));
const ap = connect(options("ap"));
const consumer = ap.consumer({ topic: "orders", name: "billing", start: "earliest" });

const sent = await eu.publish({ topic: "orders", key: "customer-42", body: "order 1001" });
console.log(`published ${sent.id} (served by ${sent.servedBy?.region})`);

for await (const m of consumer) {
  console.log(`consumed ${m.id} in ap: ${m.text()} (delivery ${m.deliveryCount})`);
  m.ack();
  if (m.id === sent.id) break;
}
await Promise.all([eu.close(), ap.close()]);
