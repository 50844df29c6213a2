// Kubernetes resource quantities, as far as storage sizes need them. The API server stores a
// quantity in its canonical form ("1.5Gi" comes back as "1536Mi"), so sizes are compared by
// value, never as strings.

const suffixes: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a quantity such as "10Gi", "1.5Gi", "500M", "1e9"; undefined when it is not one. */
export function quantityBytes(q: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)|[eE]([0-9]+))?$/.exec(
    q.trim(),
  );
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[3] !== undefined ? n * 10 ** Number(m[3]) : n * suffixes[m[2] ?? ""]!;
}

/** -1, 0 or 1 as a is smaller, equal or larger than b; undefined when either is not a quantity. */
export function compareQuantities(a: string, b: string): number | undefined {
  const x = quantityBytes(a);
  const y = quantityBytes(b);
  if (x === undefined || y === undefined) return undefined;
  return x < y ? -1 : x > y ? 1 : 0;
}
