// The trials table of a study page: sort by any column, filter by state and by parameter ranges,
// 50 rows a page (10,000 trials stay fast: only the shown rows are in the DOM).
import {clear, duration, el, fmt, trialHref} from "/static/common.js";

const PAGE = 50;
const STATES = ["COMPLETE", "PRUNED", "FAILED", "RUNNING", "PAUSED", "WAITING"];

export class TrialsTable {
  constructor(study, nObjectives) {
    this.study = study;
    this.nObjectives = nObjectives;
    this.trials = new Map();
    this.sort = {key: "number", descending: false};
    this.state = "";
    this.ranges = {};  // param -> {min, max} for numbers, {text} for the others
    this.page = 0;
    this.root = el("section", {class: "trials", id: "trials"});
  }

  update(records) {
    for (const record of records) this.trials.set(record.number, record);
    this.render();
  }

  params() {
    const names = new Map();  // name -> numeric?
    for (const t of this.trials.values()) {
      for (const [name, value] of Object.entries(t.params)) {
        const numeric = typeof value === "number";
        names.set(name, names.has(name) ? names.get(name) && numeric : numeric);
      }
    }
    return names;
  }

  columns() {
    const values = this.nObjectives === 1 ? [{key: "value", label: "value", get: (t) => (t.values ? t.values[0] : null)}]
      : Array.from({length: this.nObjectives}, (_, i) =>
        ({key: `value_${i}`, label: `value ${i}`, get: (t) => (t.values ? t.values[i] : null)}));
    const params = [...this.params().keys()].map((name) =>
      ({key: `param:${name}`, label: name, param: name, get: (t) => t.params[name]}));
    return [{key: "number", label: "#", get: (t) => t.number}, {key: "state", label: "state", get: (t) => t.state},
      ...values, {key: "duration", label: "duration", get: (t) => t.duration}, ...params];
  }

  rows() {
    const numeric = this.params();
    const keep = (t) => {
      if (this.state && t.state !== this.state) return false;
      for (const [name, range] of Object.entries(this.ranges)) {
        const value = t.params[name];
        if (numeric.get(name)) {
          if (range.min !== "" && range.min !== undefined && !(value >= Number(range.min))) return false;
          if (range.max !== "" && range.max !== undefined && !(value <= Number(range.max))) return false;
        } else if (range.text && !String(value ?? "").includes(range.text)) return false;
      }
      return true;
    };
    const column = this.columns().find((c) => c.key === this.sort.key) || this.columns()[0];
    const sign = this.sort.descending ? -1 : 1;
    return [...this.trials.values()].filter(keep).sort((a, b) => {
      const x = column.get(a);
      const y = column.get(b);
      if (x === y) return a.number - b.number;
      if (x === null || x === undefined) return 1;  // missing values last, either way
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
  }

  filters(columns) {
    const numeric = this.params();
    return el("tr", {class: "filters"}, columns.map((c) => {
      if (c.key === "state") {
        const select = el("select", {"aria-label": "filter by state", onchange: (e) => {
          this.state = e.target.value; this.page = 0; this.render();
        }}, el("option", {value: "", text: "all"}),
        STATES.map((s) => el("option", {value: s, text: s.toLowerCase()})));
        select.value = this.state;
        return el("th", {}, select);
      }
      if (!c.param) return el("th");
      const range = this.ranges[c.param] || {};
      const input = (field, placeholder) => {
        const box = el("input", {type: numeric.get(c.param) ? "number" : "text", step: "any", placeholder,
          "aria-label": `${c.param} ${placeholder}`, onchange: (e) => {
            this.ranges[c.param] = {...(this.ranges[c.param] || {}), [field]: e.target.value};
            this.page = 0;
            this.render();
          }});
        box.value = range[field] ?? "";
        return box;
      };
      return numeric.get(c.param) ? el("th", {class: "range"}, input("min", "min"), input("max", "max"))
        : el("th", {}, input("text", "contains"));
    }));
  }

  render() {
    const columns = this.columns();
    const rows = this.rows();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this.page = Math.min(this.page, pages - 1);
    const shown = rows.slice(this.page * PAGE, (this.page + 1) * PAGE);
    const head = el("tr", {}, columns.map((c) => el("th", {class: "sortable", title: "sort",
      onclick: () => {
        this.sort = {key: c.key, descending: this.sort.key === c.key ? !this.sort.descending : false};
        this.render();
      }}, c.label, this.sort.key === c.key ? (this.sort.descending ? " ▼" : " ▲") : "")));
    const body = shown.map((t) => el("tr", {dataset: {number: t.number}}, columns.map((c) => {
      if (c.key === "number") return el("td", {class: "num"}, el("a", {href: trialHref(this.study, t.number), text: t.number}));
      if (c.key === "state") return el("td", {}, el("span", {class: `badge state-${t.state.toLowerCase()}`, text: t.state.toLowerCase()}));
      if (c.key === "duration") return el("td", {class: "num", text: duration(t.duration)});
      const value = c.get(t);
      return el("td", {class: typeof value === "number" ? "num" : "", text: fmt(value)});
    })));
    const pager = el("div", {class: "pager"},
      el("button", {type: "button", disabled: this.page === 0 ? "" : null, onclick: () => { this.page -= 1; this.render(); }, text: "‹ previous"}),
      el("span", {class: "count", text: rows.length === 0 ? `0 of ${this.trials.size} trials`
        : `${this.page * PAGE + 1}–${this.page * PAGE + shown.length} of ${rows.length} trials` +
          (rows.length < this.trials.size ? ` (filtered from ${this.trials.size})` : "")}),
      el("button", {type: "button", disabled: this.page >= pages - 1 ? "" : null, onclick: () => { this.page += 1; this.render(); }, text: "next ›"}));
    clear(this.root,
      el("div", {class: "table-head"}, el("h2", {text: "Trials"}),
        el("a", {class: "button", href: `/api/studies/${encodeURIComponent(this.study)}/trials.csv`, download: "", text: "Download CSV"})),
      el("div", {class: "scroll"}, el("table", {class: "grid", id: "trials-table"},
        el("thead", {}, head, this.filters(columns)), el("tbody", {}, body))),
      pager);
  }
}
