// The browser example: served by scripts/browser-example.mjs, which also serves /config.json (the
// local cluster's endpoints and credentials) and the import map that resolves the packages.
import { connect } from "geobroker/client/web";

const config = await (await fetch("/config.json")).json();
const $ = (id) => document.getElementById(id);
const log = (line) => ($("log").textContent += `${line}\n`);
const params = new URLSearchParams(location.search);
for (const id of ["pub-region", "sub-region"])
  for (const r of config.regions) $(id).append(new Option(r.name, r.name));
$("pub-region").value = params.get("publish") ?? config.regions[0].name;
$("sub-region").value = params.get("subscribe") ?? config.regions.at(-1).name;

const clientIn = (region) =>
  connect({
    endpoints: config.regions.find((r) => r.name === region).endpoints,
    region,
    tls: config.tls,
    auth: { basic: { user: config.username, password: config.password } },
  });

async function roundTrip(text) {
  const topic = params.get("topic") ?? "browser-example";
  const publisher = clientIn($("pub-region").value);
  const subscriber = clientIn($("sub-region").value);
  const sub = subscriber.subscribe({ topic, start: "earliest" });
  const sent = await publisher.publish({ topic, body: text });
  log(`published ${sent.id} in ${sent.servedBy?.region}`);
  for await (const m of sub) {
    log(`received ${m.id} in ${m.servedBy?.region}: ${m.text()}`);
    if (m.id === sent.id) break;
  }
  sub.close();
  await Promise.all([publisher.close(), subscriber.close()]);
  return sent.id;
}

$("send").addEventListener("submit", (e) => {
  e.preventDefault();
  roundTrip($("text").value).catch((err) => log(`error: ${err.message}`));
});

if (params.has("auto")) {
  roundTrip(params.get("auto")).then(
    (id) => ($("result").textContent = `ok ${id}`),
    (err) => ($("result").textContent = `error ${err.code ?? ""} ${err.message}`),
  );
}
