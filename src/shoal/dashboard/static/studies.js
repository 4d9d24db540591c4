// The studies list: one row per study, refreshed every poll (new studies appear by themselves).
import {api, clear, crumbs, el, errorBox, every, fmt, markReady, studyHref, when} from "/static/common.js";

const main = document.getElementById("main");

function states(counts) {
  const parts = Object.entries(counts).filter(([, n]) => n > 0);
  if (parts.length === 0) return el("span", {class: "muted", text: "none"});
  return el("span", {class: "states"}, parts.map(([state, n]) =>
    el("span", {class: `badge state-${state.toLowerCase()}`, text: `${state.toLowerCase()} ${n}`})));
}

function render(body) {
  if (body.studies.length === 0) {
    clear(main, el("h1", {text: "Studies"}), el("p", {class: "muted", text: "No study in this storage yet."}));
    return;
  }
  const rows = body.studies.map((s) => el("tr", {dataset: {study: s.name}},
    el("td", {}, el("a", {href: studyHref(s.name), text: s.name})),
    el("td", {text: s.directions.join(", ")}),
    el("td", {class: "num", text: s.n_trials}),
    el("td", {}, states(s.states)),
    el("td", {class: "num", text: s.best === null ? "—" : s.best.map(fmt).join(", ")}),
    el("td", {text: when(s.last_activity)})));
  clear(main, el("h1", {text: "Studies"}),
    el("table", {class: "grid", id: "studies"},
      el("thead", {}, el("tr", {}, ["name", "directions", "trials", "by state", "best", "last activity"]
        .map((h) => el("th", {text: h})))),
      el("tbody", {}, rows)));
}

async function start() {
  crumbs("studies");
  let body;
  try {
    body = await api("/api/studies");
  } catch (err) {
    clear(main, errorBox(err.message));
    markReady();
    return;
  }
  render(body);
  markReady();
  every(body.poll_s, async () => render(await api("/api/studies")));
}

start();
