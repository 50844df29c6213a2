/**
 * `--wan-delay 30ms` (every pair of regions) or `eu-us=40ms,eu-ap=80ms,us-ap=90ms` (per pair,
 * symmetric) into one-way delays per (from, to) region.
 */
export function parseWanDelay(spec: string, regions: string[]): Map<string, Record<string, number>> {
  const out = new Map(regions.map((r) => [r, {} as Record<string, number>]));
  if (!spec) return out;
  const ms = (text: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
    if (!m) throw new Error(`--wan-delay: "${text}" is not a duration like 30ms or 0.1s`);
    return Number(m[1]) * (m[2] === "s" ? 1000 : 1);
  };
  if (!spec.includes("=")) {
    const d = ms(spec);
    for (const a of regions) for (const b of regions) if (a !== b) out.get(a)![b] = d;
    return out;
  }
  for (const part of spec.split(",")) {
    const [pair, value] = part.split("=");
    const [a, b] = (pair ?? "").split("-");
    if (!a || !b || value === undefined)
      throw new Error(`--wan-delay: "${part}" should look like eu-us=40ms`);
    for (const r of [a, b])
      if (!regions.includes(r))
        throw new Error(`--wan-delay: region ${r} is not one of ${regions.join(", ")}`);
    const d = ms(value);
    out.get(a)![b] = d;
    out.get(b)![a] = d;
  }
  return out;
}
