// A small SVG line plot: one line per series over time, with its axis range written out, and a
// text alternative (the latest values) for screen readers. No library: the page stays small.

const svgNs = "http://www.w3.org/2000/svg";
const palette = ["#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599"];

export interface Series {
  name: string;
  points: { atMs: number; value: number }[];
}

function el(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function linePlot(
  title: string,
  series: Series[],
  format: (v: number) => string,
  windowMs: number,
  nowMs: number,
): HTMLElement {
  const width = 560;
  const height = 180;
  const pad = { left: 64, right: 12, top: 12, bottom: 24 };
  const values = series.flatMap((s) => s.points.map((p) => p.value)).filter(Number.isFinite);
  const max = Math.max(...values, 0) || 1;
  const x = (at: number) =>
    pad.left + ((at - (nowMs - windowMs)) / windowMs) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
    class: "plot",
  });
  svg.append(
    el("line", { x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0), class: "axis" }),
    el("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: y(0), class: "axis" }),
  );
  const label = (text: string, ax: number, ay: number, anchor: string) => {
    const t = el("text", { x: ax, y: ay, "text-anchor": anchor, class: "tick" });
    t.textContent = text;
    return t;
  };
  svg.append(
    label(format(max), pad.left - 6, pad.top + 8, "end"),
    label(format(0), pad.left - 6, y(0), "end"),
    label(`-${Math.round(windowMs / 60_000)} min`, pad.left, height - 6, "start"),
    label("now", width - pad.right, height - 6, "end"),
  );
  series.forEach((s, i) => {
    // A gap (NaN: nothing observed) breaks the line instead of drawing a false zero.
    let d = "";
    let pen = "M";
    for (const p of s.points) {
      if (!Number.isFinite(p.value)) {
        pen = "M";
        continue;
      }
      d += `${pen}${x(p.atMs).toFixed(1)},${y(p.value).toFixed(1)} `;
      pen = "L";
    }
    const color = palette[i % palette.length]!;
    if (d) svg.append(el("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
    // The newest point as a dot: visible while a line has only one point.
    const last = [...s.points].reverse().find((p) => Number.isFinite(p.value));
    if (last)
      svg.append(
        el("circle", { cx: x(last.atMs).toFixed(1), cy: y(last.value).toFixed(1), r: 3, fill: color }),
      );
  });
  const figure = document.createElement("figure");
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, i) => {
    const li = document.createElement("li");
    const last = [...s.points].reverse().find((p) => Number.isFinite(p.value));
    li.style.setProperty("--swatch", palette[i % palette.length]!);
    li.textContent = `${s.name}: ${last ? format(last.value) : "no data yet"}`;
    legend.append(li);
  });
  figure.append(caption, svg, legend);
  return figure;
}
