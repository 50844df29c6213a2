import { ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { type ErrorInfo, ErrorInfoSchema } from "../../../gen/geobroker/v1/errors_pb.js";
import type { ExternalListenerConfig } from "../config/config.js";

// The listener for clients outside the cluster network (Kubernetes LoadBalancer/NodePort Services,
// as Kafka's advertised listeners): the same services as the client port, but every node address
// the broker hands out (GetClusterInfo's nodes, leader hints in errors and in PublishStream's
// per-message errors) is the node's advertised outside address, which such a client can dial.
// The engine never knows: addresses are rewritten here, at the edge, by node id and region.

/** True on calls that came in on the external listener (set by the client server per connection). */
export const externalCallKey = createContextKey<boolean>(false, { description: "came in from outside" });

/** A node's outside address, `host:port`; "" when its region advertises none or its id has no ordinal. */
export function advertisedAddress(config: ExternalListenerConfig, nodeId: string, region: string): string {
  const r = config.advertised[region];
  if (!r) return "";
  const ordinal = /-(0|[1-9][0-9]*)$/.exec(nodeId)?.[1];
  if (ordinal === undefined && (r.host.includes("{ordinal}") || r.portBase !== undefined)) return "";
  const host = r.host.replaceAll("{node}", nodeId).replaceAll("{ordinal}", ordinal ?? "");
  const port = r.portBase !== undefined ? r.portBase + Number(ordinal) : r.port;
  return port === undefined ? "" : `${host}:${port}`;
}

export type AddressOf = (nodeId: string, region: string) => string;

type Msg = { $typeName?: string; [k: string]: unknown };

/**
 * `value` with every node address replaced by `addressOf`'s: geobroker.v1.Node (GetClusterInfo,
 * AddNode...) and geobroker.v1.LeaderHint (inside ErrorInfo, wherever it is). New objects where
 * something changed; the rest shared.
 */
export function externalize<T>(value: T, addressOf: AddressOf): T {
  if (Array.isArray(value)) {
    const out = value.map((v) => externalize(v, addressOf));
    return (out.some((v, i) => v !== value[i]) ? out : value) as T;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  const m = value as Msg;
  if (m.$typeName === "geobroker.v1.Node" && typeof m.id === "string")
    return { ...m, clientAddress: addressOf(m.id, String(m.region ?? "")) } as T;
  if (m.$typeName === "geobroker.v1.LeaderHint" && typeof m.nodeId === "string")
    return { ...m, clientAddress: m.nodeId ? addressOf(m.nodeId, String(m.region ?? "")) : "" } as T;
  let out: Msg | undefined;
  for (const [k, v] of Object.entries(m)) {
    const x = externalize(v, addressOf);
    if (x !== v) {
      out ??= { ...m };
      out[k] = x;
    }
  }
  return (out ?? value) as T;
}

/** The error with its ErrorInfo's leader hint pointing outside; other errors unchanged. */
export function externalizeError(err: unknown, addressOf: AddressOf): unknown {
  if (!(err instanceof ConnectError)) return err;
  const infos = err.findDetails(ErrorInfoSchema);
  if (infos.length === 0) return err;
  const others = err.details.filter(
    (d) => ("desc" in d ? d.desc.typeName : d.type) !== ErrorInfoSchema.typeName,
  );
  const rewritten = infos.map((i) => ({
    desc: ErrorInfoSchema,
    value: externalize<ErrorInfo>(i, addressOf),
  }));
  const out = new ConnectError(err.rawMessage, err.code, err.metadata, rewritten, err.cause);
  // Details of other types pass as they came (an incoming one is already encoded).
  out.details.push(...others);
  return out;
}

/** Rewrites the node addresses of calls that came in on the external listener. */
export function externalAddressesInterceptor(addressOf: AddressOf): Interceptor {
  return (next) => async (req) => {
    if (!req.contextValues.get(externalCallKey)) return next(req);
    try {
      const res = await next(req);
      if (!res.stream) return { ...res, message: externalize(res.message, addressOf) };
      const source = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            for await (const m of source) yield externalize(m, addressOf);
          } catch (err) {
            throw externalizeError(err, addressOf);
          }
        })(),
      };
    } catch (err) {
      throw externalizeError(err, addressOf);
    }
  };
}
