// How the console writes numbers, times and message contents (pure, unit-tested in npm test).

const units = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 -> "1.5 KiB"; bytes below 1 KiB are exact. */
export function formatBytes(n: bigint | number): string {
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** A rate with a unit, three significant digits at most: 0.5 -> "0.5/s", 12345 -> "12.3k/s". */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "0/s";
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toPrecision(3)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toPrecision(3)}k/s`;
  return `${Number(perSecond.toPrecision(3))}/s`;
}

/** Seconds as milliseconds for people: 0.0123 -> "12.3 ms", 2.5 -> "2.50 s". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "-";
  if (s >= 1) return `${s.toFixed(2)} s`;
  return `${Number((s * 1000).toPrecision(3))} ms`;
}

/** Unix microseconds as an ISO time (UTC, milliseconds). */
export function formatMicros(micros: bigint): string {
  return new Date(Number(micros / 1000n)).toISOString();
}

export type BodyView = "text" | "json" | "hex";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8");

/** How many bytes of a body the page renders; the rest is counted, not shown. */
export const maxShownBytes = 64 * 1024;

export interface RenderedBody {
  text: string;
  /** Why the view asked for could not be used (not UTF-8, not JSON), or the cut; "" when none. */
  note: string;
}

/** A hex dump: offset, 16 bytes in hex, the printable ASCII beside them. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  return lines.join("\n");
}

/**
 * A message body as text, pretty-printed JSON or hex. Text that is not valid UTF-8, and JSON that
 * does not parse, fall back (to hex, to text) with a note saying so: the page never hides bytes.
 */
export function renderBody(body: Uint8Array, view: BodyView): RenderedBody {
  const shown = body.length > maxShownBytes ? body.subarray(0, maxShownBytes) : body;
  const cut = body.length > maxShownBytes ? `first ${maxShownBytes} of ${body.length} bytes` : "";
  const join = (...notes: string[]) => notes.filter(Boolean).join("; ");
  if (view === "hex") return { text: hexDump(shown), note: cut };
  let text: string;
  try {
    text = utf8.decode(shown);
  } catch {
    // A cut may split a character: only a body shown whole is judged "not UTF-8".
    if (cut) text = lossy.decode(shown);
    else return { text: hexDump(shown), note: "not UTF-8 text: shown as hex" };
  }
  if (view === "text") return { text, note: cut };
  try {
    return { text: JSON.stringify(JSON.parse(text), null, 2), note: cut };
  } catch {
    return { text, note: join("not JSON: shown as text", cut) };
  }
}
