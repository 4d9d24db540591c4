// A study page: summary, every applicable figure, the trials table; live while trials run.
// The page polls /api/studies/NAME; when the version moved it fetches only the changed trials
// (trials?since=) and redraws the figures in place (Plotly.react).
import {TrialsTable} from "/static/table.js";
import {api, apiPath, clear, crumbs, draw, el, errorBox, every, fmt, loadPlotly, markReady, when}
  from "/static/common.js";

const main = document.getElementById("main");
const name = decodeURIComponent(location.pathname.slice("/studies/".length));
const options = {objective: null, params: null};
const boxes = new Map();  // kind -> {node, drawn}
let version = 0;
let summary = null;
let table = null;

const TITLES = {history: "Optimisation history", intermediate: "Learning curves", parallel: "Parallel coordinates",
  contour: "Contour", slice: "Slices", importance: "Hyperparameter importance", pareto: "Pareto front",
  timeline: "Timeline", rungs: "Rungs and brackets", zoom: "Coarse-to-fine rounds"};

function figureQuery(kind) {
  const query = new URLSearchParams();
  if (options.objective !== null) query.set("objective", options.objective);
  if (kind === "contour" && options.params) query.set("params", options.params.join(","));
  const text = query.toString();
  return text ? `?${text}` : "";
}

async function drawFigure(kind) {
  const box = boxes.get(kind);
  try {
    const body = await api(`${apiPath(name)}/figures/${encodeURIComponent(kind)}${figureQuery(kind)}`);
    box.message.textContent = "";
    const layout = {...(body.figure.layout || {})};
    delete layout.title;  // the box's heading names the figure: give its room back to the plot
    layout.margin = {...(layout.margin || {}), t: Math.min((layout.margin || {}).t ?? 100, 40)};
    await draw(box.plot, {data: body.figure.data, layout});
  } catch (err) {
    box.message.textContent = err.message;
  }
}

function objectiveLabel(i) {
  const names = summary.objective_names || [];
  return `${names[i] || `objective ${i}`} (${summary.directions[i]})`;
}

function controls() {
  const parts = [];
  if (summary.directions.length > 1) {
    options.objective = options.objective ?? 0;
    const select = el("select", {id: "objective", "aria-label": "objective", onchange: (e) => {
      options.objective = Number(e.target.value);
      redraw();
    }}, summary.directions.map((_, i) => el("option", {value: i, text: objectiveLabel(i)})));
    parts.push(el("label", {}, "objective ", select));
  }
  return el("div", {class: "controls"}, parts);
}

function contourPickers() {
  const picker = (axis) => el("select", {id: `contour-${axis}`, "aria-label": `contour ${axis}`, onchange: () => {
    const x = document.getElementById("contour-x").value;
    const y = document.getElementById("contour-y").value;
    options.params = x && y && x !== y ? [x, y] : null;
    if (options.params || (!x && !y)) drawFigure("contour");
  }}, el("option", {value: "", text: "auto"}), summary.params.map((p) => el("option", {value: p, text: p})));
  return el("div", {class: "pickers"}, el("label", {}, "x ", picker("x")), el("label", {}, "y ", picker("y")));
}

function addBox(kind, grid) {
  const plot = el("div", {class: "plot", id: `fig-${kind}`, dataset: {kind}});
  const message = el("p", {class: "error", role: "alert"});
  const section = el("section", {class: "figure"}, el("h2", {text: TITLES[kind] || kind}),
    kind === "contour" ? contourPickers() : null, message, plot);
  boxes.set(kind, {plot, message, section});
  grid.append(section);
}

function summaryBlock() {
  const counts = Object.entries(summary.states).filter(([, n]) => n > 0)
    .map(([state, n]) => el("span", {class: `badge state-${state.toLowerCase()}`, text: `${state.toLowerCase()} ${n}`}));
  return el("div", {class: "summary", id: "summary"},
    el("span", {}, el("b", {text: "directions "}), summary.directions.join(", ")),
    el("span", {}, el("b", {text: "trials "}), String(summary.n_trials)), el("span", {class: "states"}, counts),
    el("span", {}, el("b", {text: "best "}), summary.best === null ? "—" : summary.best.map(fmt).join(", ")),
    el("span", {}, el("b", {text: "last activity "}), when(summary.last_activity)));
}

async function redraw() {
  await Promise.all([...boxes.keys()].map(drawFigure));
}

async function refresh() {
  const next = await api(apiPath(name));
  if (next.version === version) return;
  const page = await api(`${apiPath(name)}/trials?since=${version}&fields=table`);
  summary = next;
  version = page.version;
  document.getElementById("summary").replaceWith(summaryBlock());
  const grid = document.getElementById("figures");
  for (const kind of next.figures) if (!boxes.has(kind)) addBox(kind, grid);
  table.update(page.trials);
  await redraw();
}

async function start() {
  // every request starts now, in parallel with Plotly.js loading
  const first = api(apiPath(name));
  const trials = api(`${apiPath(name)}/trials?since=0&fields=table`);
  trials.catch(() => null);  // a missing study is reported once, by the summary's request
  loadPlotly().catch(() => null);
  crumbs({href: "/", text: "studies"}, name);
  document.title = `${name} · shoal dashboard`;
  try {
    summary = await first;
  } catch (err) {
    clear(main, el("h1", {text: name}), errorBox(err.message));
    markReady();
    return;
  }
  const grid = el("div", {class: "figures", id: "figures"});
  table = new TrialsTable(name, summary.directions.length);
  clear(main, el("h1", {text: name}), summaryBlock(), controls(), grid, table.root);
  for (const kind of summary.figures) addBox(kind, grid);
  const drawn = redraw();
  try {
    table.update((await trials).trials);
  } catch (err) {
    table.root.append(errorBox(err.message));
  }
  await drawn;
  version = summary.version;  // the figures are at least this new; trials written since come again
  markReady();
  every(summary.poll_s, refresh);
}

start();
