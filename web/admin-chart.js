// Line charts as plain inline SVG, built with DOM calls (no library, nothing inline for
// the CSP to refuse: colours come from admin.css by class).
const NS = "http://www.w3.org/2000/svg";
const H = 160, PAD_L = 44, PAD_B = 18, PAD_T = 8, PAD_R = 8;

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function niceMax(value) {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

/// Replaces `container`'s chart: `lines` = [{name, cls, points: [[t, v], ...]}], t in seconds.
export function drawChart(container, lines, { label, empty, span: spanLabel }) {
  const all = lines.flatMap((l) => l.points);
  // Drawn at the box's own width (redrawn every poll), so that text is never stretched.
  const W = Math.max(240, Math.round(container.getBoundingClientRect().width) || 600);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart-svg" });
  const title = el("title", {}, svg);
  title.textContent = label;
  if (all.length < 2) {
    const text = el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, svg);
    text.textContent = empty;
    container.replaceChildren(svg);
    return;
  }
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  const top = niceMax(Math.max(...all.map((p) => p[1])));
  const x = (t) => PAD_L + ((t - t0) / Math.max(t1 - t0, 1)) * (W - PAD_L - PAD_R);
  const y = (v) => H - PAD_B - (v / top) * (H - PAD_B - PAD_T);
  for (const frac of [0, 0.5, 1]) {
    const v = top * frac;
    el("line", { x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v), class: "chart-grid" }, svg);
    const tick = el("text", { x: PAD_L - 4, y: y(v) + 4, "text-anchor": "end", class: "chart-axis" }, svg);
    tick.textContent = Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  const span = el("text", { x: W - PAD_R, y: H - 4, "text-anchor": "end", class: "chart-axis" }, svg);
  span.textContent = spanLabel(t1 - t0);
  if (lines.length > 1) {
    lines.forEach((line, i) => {
      const key = el("text", { x: PAD_L + 8 + i * 70, y: PAD_T + 12, class: `chart-legend ${line.cls}` }, svg);
      key.textContent = line.name;
    });
  }
  for (const line of lines) {
    if (line.points.length < 2) continue;
    const points = line.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const poly = el("polyline", { points, class: `chart-line ${line.cls}`, fill: "none" }, svg);
    const name = el("title", {}, poly);
    name.textContent = line.name;
  }
  container.replaceChildren(svg);
}
