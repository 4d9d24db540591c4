// Helpers shared by the dashboard's pages. Every user string reaches the page through
// textContent (el() below), never through innerHTML: a hostile name shows as text.

// A page opened with ?token= has its token in a cookie now: take it out of the address bar (and
// so out of the history and of anything copied from it).
if (new URLSearchParams(location.search).has("token")) {
  const query = new URLSearchParams(location.search);
  query.delete("token");
  const rest = query.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export async function api(path) {
  const response = await fetch(path, {headers: {Accept: "application/json"}, credentials: "same-origin"});
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText} for ${path}`);
  }
  return body;
}

export const studyHref = (name) => "/studies/" + encodeURIComponent(name);
export const trialHref = (name, number) => `${studyHref(name)}/trials/${number}`;
export const apiPath = (name) => "/api/studies/" + encodeURIComponent(name);

export function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(4) : String(+value.toPrecision(6));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function when(seconds) {
  return seconds === null || seconds === undefined ? "—" : new Date(seconds * 1000).toLocaleString();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function markReady() {
  document.body.dataset.ready = "1";
}

export function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  clear(nav, parts.map((part) => (typeof part === "string" ? el("span", {text: part})
                                                           : el("a", {href: part.href, text: part.text}))));
}

export function errorBox(message) {
  return el("p", {class: "error", role: "alert", text: message});
}

export function setLive(text, ok = true) {
  const live = document.getElementById("live");
  live.textContent = text;
  live.classList.toggle("stale", !ok);
}

// Run `step` every `seconds`, one at a time: the next run is scheduled when the last one ends.
export function every(seconds, step) {
  const run = async () => {
    try {
      await step();
      setLive(`live · ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      setLive(`not updated: ${err.message}`, false);
    }
    setTimeout(run, seconds * 1000);
  };
  setTimeout(run, seconds * 1000);
}

export function keyValueTable(rows) {
  return el("table", {class: "kv"}, el("tbody", {}, rows.map(([key, value]) =>
    el("tr", {}, el("th", {text: key}), el("td", {}, value instanceof Node ? value : fmt(value))))));
}

const PLOT_CONFIG = {responsive: true, displaylogo: false};

// The trace types of the vendored cartesian bundle (shoal.visualization.LITE_TRACES: a test
// checks that the two lists agree).
export const LITE_TRACES = new Set(["bar", "box", "contour", "heatmap", "histogram", "histogram2d",
  "histogram2dcontour", "image", "pie", "scatter", "scatterternary", "violin"]);
const bundles = {};  // "lite" | "full" -> a promise of that bundle's Plotly

function loadScript(metaName, fallback) {
  return new Promise((resolve, reject) => {
    const meta = document.querySelector(`meta[name='${metaName}']`);
    const src = meta && meta.content.startsWith("/static/") ? meta.content : fallback;
    const script = el("script", {src});
    script.addEventListener("load", () => resolve(window.Plotly));
    script.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
    document.head.append(script);
  });
}

// Plotly.js is loaded by the page's script, not the HTML, so the API requests start at once and
// run while the browser compiles it. Two bundles, on versioned, long-cached URLs the page names:
// the cartesian one (1.5 MB) draws every figure made only of 2-D traces, the full one (4.8 MB) is
// fetched only when a figure has another type (parcoords, scattergl). Each sets window.Plotly as
// it runs, so the full one starts only after the cartesian one has run and each promise keeps
// its own instance.
export function loadPlotly(full = false) {
  if (!full) {
    bundles.lite = bundles.lite || loadScript("plotly-lite-js", "/static/plotly.min.js");
    return bundles.lite;
  }
  bundles.full = bundles.full || loadPlotly(false).catch(() => null).then(
    () => loadScript("plotly-js", "/static/plotly.min.js"));
  return bundles.full;
}

// Draw (or redraw in place) a Plotly figure from the API's {"figure": {...}} payload, with the
// cartesian bundle when its traces allow; a plot that once needed the full bundle keeps it.
export async function draw(node, figure) {
  const data = figure.data || [];
  const full = Boolean(node.shoalFull) || data.some((t) => !LITE_TRACES.has(t.type || "scatter"));
  const Plotly = await loadPlotly(full);
  if (node.shoalPlotly && node.shoalPlotly !== Plotly) node.shoalPlotly.purge(node);
  node.shoalPlotly = Plotly;
  node.shoalFull = full;
  return Plotly.react(node, data, figure.layout || {}, PLOT_CONFIG);
}
