// A trial page: parameters, values, curves, attributes, failure, lineage, checkpoints; live.
import {api, apiPath, bytes, clear, crumbs, draw, duration, el, errorBox, every, fmt, keyValueTable,
  loadPlotly, markReady, studyHref, trialHref, when} from "/static/common.js";

const main = document.getElementById("main");
const match = location.pathname.match(/^\/studies\/(.+)\/trials\/(\d+)$/);
const name = decodeURIComponent(match[1]);
const number = Number(match[2]);
const base = `${apiPath(name)}/trials/${number}`;
let version = null;

const trialLink = (n) => el("a", {href: trialHref(name, n), text: `trial ${n}`});

function section(title, id, ...content) {
  return el("section", {class: "block", id}, el("h2", {text: title}), ...content);
}

function lineage(t) {
  const rows = t.lineage.map((event) => {
    const changed = event.changed ? Object.entries(event.changed)
      .map(([key, pair]) => `${key}: ${fmt(pair[0])} → ${fmt(pair[1])}`).join("; ") : "";
    return el("tr", {}, el("td", {text: event.event ?? "—"}), el("td", {class: "num", text: fmt(event.step)}),
      el("td", {}, event.parent === undefined || event.parent === null ? "—" : trialLink(event.parent)),
      el("td", {text: changed}), el("td", {text: when(event.at)}));
  });
  const parts = [];
  if (t.parent !== null) parts.push(el("p", {}, "started from ", trialLink(t.parent)));
  if (t.children.length) parts.push(el("p", {}, "continued by ", t.children.flatMap((n, i) => [i ? ", " : "", trialLink(n)])));
  if (rows.length) {
    parts.push(el("table", {class: "grid"}, el("thead", {}, el("tr", {},
      ["event", "step", "parent", "changed", "at"].map((h) => el("th", {text: h})))), el("tbody", {}, rows)));
  }
  return parts.length ? parts : [el("p", {class: "muted", text: "No retries, resumes or forks."})];
}

function checkpoints(t) {
  const recorded = t.checkpoints;
  const disk = t.checkpoints_on_disk;
  const parts = [];
  if (recorded) parts.push(el("p", {text: `recorded: steps ${(recorded.steps || []).join(", ") || "none"}, ${bytes(recorded.bytes)}`}));
  if (disk.steps.length) {
    parts.push(el("table", {class: "grid", id: "checkpoints-table"}, el("thead", {}, el("tr", {},
      ["step", "size", "path"].map((h) => el("th", {text: h})))), el("tbody", {}, disk.steps.map((s) =>
      el("tr", {}, el("td", {class: "num", text: s.step}), el("td", {class: "num", text: bytes(s.bytes)}),
        el("td", {class: "path", text: s.path}))))));
  } else {
    parts.push(el("p", {class: "muted", text: `No checkpoint on disk in ${disk.folder}.`}));
  }
  return parts;
}

function render(t, plot) {
  const values = t.values === null ? "—" : t.values.map(fmt).join(", ");
  const params = Object.entries(t.params);
  const attrs = Object.entries(t.user_attrs);
  const failed = t.fail_reason !== null || t.traceback !== null;
  clear(main,
    el("h1", {}, `Trial ${t.number} `, el("span", {class: `badge state-${t.state.toLowerCase()}`, text: t.state.toLowerCase()})),
    keyValueTable([["values", values], ["started", when(t.datetime_start)], ["completed", when(t.datetime_complete)],
      ["duration", duration(t.duration)], ["worker", t.worker], ["last step", t.last_step]]),
    section("Parameters", "params", params.length ? keyValueTable(params) : el("p", {class: "muted", text: "none"})),
    section("Curves", "curves", plot),
    section("User attributes", "user-attrs", attrs.length ? keyValueTable(attrs) : el("p", {class: "muted", text: "none"})),
    failed ? section("Failure", "failure", el("p", {text: t.fail_reason ?? ""}),
      t.traceback ? el("pre", {class: "traceback", text: t.traceback}) : null) : null,
    section("Lineage", "lineage", ...lineage(t)),
    section("Checkpoints", "checkpoints", ...checkpoints(t)));
}

async function load(plot, message) {
  const [t, figure] = await Promise.all([api(base), api(`${base}/figure`)]);
  version = t.version;
  render(t, el("div", {}, message, plot));
  message.textContent = "";
  await draw(plot, figure.figure);
}

async function start() {
  loadPlotly().catch(() => null);  // compiled while the trial is fetched
  crumbs({href: "/", text: "studies"}, {href: studyHref(name), text: name}, `trial ${number}`);
  document.title = `trial ${number} · ${name} · shoal dashboard`;
  const plot = el("div", {class: "plot", id: "fig-trial"});
  const message = el("p", {class: "error", role: "alert"});
  try {
    await load(plot, message);
  } catch (err) {
    clear(main, el("h1", {text: `Trial ${number}`}), errorBox(err.message));
    markReady();
    return;
  }
  markReady();
  const {poll_s: pollS} = await api(apiPath(name)).catch(() => ({poll_s: 2}));
  every(pollS, async () => {
    const summary = await api(apiPath(name));
    if (summary.version !== version) await load(plot, message);
  });
}

start();
