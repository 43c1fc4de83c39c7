// Atoll NOC dashboard: plain JavaScript, no build step. Every piece of data comes from the
// hub's API, called with the session cookie (and the CSRF token on changes); live updates
// come from /ui/events (server-sent events). Text from the API is only ever set as text.
"use strict";

const state = { session: null, fleet: null, marker: null, events: null, timer: null };
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf_token;
  if (path.startsWith("/vnflcm/v2/")) headers.Version = "2.0.0";  // SOL013: the API version
  const resp = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 204) return null;
  const data = (resp.headers.get("Content-Type") || "").includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    const message = (data && data.error && data.error.message) || (data && data.detail) || resp.statusText;
    if (resp.status === 401 && path !== "/ui/session") signedOut();
    throw new ApiError(resp.status, message);
  }
  return data;
}

// a list from the API, or [] when the route is not there (another lane's, not merged yet)
async function listOf(path) {
  try {
    const data = await api("GET", path);
    return Array.isArray(data) ? data : (data && data.items) || [];
  } catch (err) {
    if (err.status === 404 || err.status === 405 || err.status === 403) return [];
    throw err;
  }
}

const stateTag = (s) => h("span", { class: `state ${s}` }, s ?? "-");
function ago(epoch) {
  if (!epoch) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - epoch));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}
function bar(used, total) {
  const pct = total ? Math.min(100, Math.round((100 * used) / total)) : 0;
  const fill = h("span");
  fill.style.width = `${pct}%`;  // CSSOM, not an inline style attribute (the CSP forbids those)
  return h("span", {}, h("span", { class: "bar" }, fill), ` ${used} / ${total}`);
}

// ---- session -------------------------------------------------------------------------

async function start() {
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", render);
  try {
    state.session = await api("GET", "/ui/session");
    signedIn();
  } catch (err) {
    signedOut();
  }
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { user: form.get("user"), password: form.get("password") };
  if (form.get("project")) body.project = form.get("project");
  try {
    state.session = await api("POST", "/ui/session", body);
    event.target.reset();
    signedIn();
  } catch (err) {
    $("#signin-error").textContent = err.message;
  }
}

async function signOut() {
  try { await api("DELETE", "/ui/session"); } catch (err) { /* gone already */ }
  signedOut();
}

function signedIn() {
  const s = state.session;
  $("#signin").hidden = true;
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  $("#who").textContent = `${s.user} · ${s.system ? "system" : "project " + s.project} (${s.roles.join(", ")})`;
  connect();
  render();
}

function signedOut() {
  state.session = null;
  if (state.events) state.events.close();
  state.events = null;
  $("#live").classList.remove("on");
  $("#signin").hidden = false;
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#who").textContent = "";
  $("#view").replaceChildren();
}

// ---- live updates --------------------------------------------------------------------

function connect() {
  if (state.events) state.events.close();
  const source = new EventSource("/ui/events");  // reconnects by itself, with Last-Event-ID
  state.events = source;
  source.addEventListener("open", () => $("#live").classList.add("on"));
  source.addEventListener("error", async () => {
    $("#live").classList.remove("on");
    try { await api("GET", "/ui/session"); } catch (err) { /* signedOut() ran on a 401 */ }
  });
  source.addEventListener("signed_out", () => signedOut());
  source.addEventListener("resync", () => refreshSoon(null, null));
  source.addEventListener("site", (e) => siteChanged(JSON.parse(e.data)));
  for (const topic of ["conflict", "site_event", "site_object", "image_transfer", "alarm", "vnf"]) {
    source.addEventListener(topic, (e) => refreshSoon(topic, JSON.parse(e.data)));
  }
}

const TOPICS_OF = {
  fleet: ["site"], site: ["site", "site_event", "site_object", "image_transfer", "alarm"],
  vnf: ["vnf", "site_object"], images: ["image_transfer"], alarms: ["alarm"], conflicts: ["conflict"],
};

// Re-read the page at most once per THROTTLE_MS however fast changes come (a thousand sites
// reporting every few seconds must not keep it re-reading), and only for changes it shows.
const THROTTLE_MS = 1000;

function refreshSoon(topic, data) {
  const { page, arg } = route();
  if (topic && !(TOPICS_OF[page] || []).includes(topic)) return;
  if (page === "site" && data && data.site && data.key !== arg && data.site !== arg &&
      data.site.name !== arg) return;  // another site's news
  if (state.timer) return;
  state.timer = setTimeout(() => { state.timer = null; render(); }, THROTTLE_MS);
}

function siteChanged(data) {
  const tr = document.querySelector(`tr[data-site="${CSS.escape(data.key)}"]`);
  if (tr && data.site) tr.replaceWith(siteRow(data.site));
  refreshSoon("site", data);  // the counts and the grid
}

// ---- pages ---------------------------------------------------------------------------

function route() {
  const [page, arg] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { page: page || "fleet", arg };
}

const PAGES = { fleet: fleetPage, site: sitePage, vnf: vnfPage, images: imagesPage,
  alarms: alarmsPage, conflicts: conflictsPage };

async function render() {
  if (!state.session) return;
  const { page, arg } = route();
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#/${page}`);
  }
  try {
    const view = await (PAGES[page] || fleetPage)(arg);
    $("#view").replaceChildren(view);
  } catch (err) {
    if (state.session) $("#view").replaceChildren(h("p", { class: "error" }, err.message));
  }
}

function siteRow(s) {
  return h("tr", { "data-site": s.name },
    h("td", {}, h("a", { href: `#/site/${encodeURIComponent(s.name)}` }, s.name)),
    h("td", {}, s.region), h("td", { class: "state-cell" }, stateTag(s.state)),
    h("td", {}, s.last_seen || "never"), h("td", {}, ago(s.heard)),
    h("td", {}, s.lag ?? "-"), h("td", {}, s.outbox));
}

async function fleetPage() {
  const f = await api("GET", "/ui/fleet?limit=200");
  const tiles = h("div", { class: "tiles" },
    h("div", { class: "tile" }, h("div", { class: "n", id: "count-total" }, f.total), "sites"),
    Object.entries(f.counts).map(([s, n]) =>
      h("div", { class: "tile" }, h("div", { class: `n state ${s}`, id: `count-${s}` }, n), s)));
  const grid = h("div", { class: "grid" }, f.regions.map((r) =>
    h("div", { class: "cell", "data-region": r.region }, h("strong", {}, r.region),
      h("div", { class: "dots" }, Object.entries(r.counts).map(([s, n]) =>
        h("span", { class: `state ${s}` }, `${n} ${s}`))))));
  const table = h("table", { id: "sites" },
    h("thead", {}, h("tr", {}, ["site", "region", "state", "last seen", "heard", "sync lag (changes)",
      "outbox"].map((t) => h("th", {}, t)))),
    h("tbody", {}, f.sites.map(siteRow)));
  return h("div", {}, h("h1", {}, "Fleet"), tiles,
    h("h2", {}, "Regions"), grid, f.points.length ? [h("h2", {}, "Map"), map(f.points)] : null,
    h("h2", {}, "Sites"), table,
    f.next_marker ? h("p", { class: "muted" }, `first ${f.sites.length} of ${f.total} shown`) : null);
}

function map(points) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "-180 -90 360 180");
  svg.setAttribute("class", "map");
  for (let d = -150; d <= 150; d += 30) {  // a graticule every 30 degrees, and the equator
    for (const [x1, y1, x2, y2] of [[d, -90, d, 90], [-180, d / 2, 180, d / 2]]) {
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      for (const [k, v] of Object.entries({ x1, y1, x2, y2 })) line.setAttribute(k, v);
      line.setAttribute("class", d === 0 ? "equator" : "graticule");
      svg.append(line);
    }
  }
  for (const [name, lat, lon, st] of points) {
    const c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    c.setAttribute("cx", lon); c.setAttribute("cy", -lat); c.setAttribute("r", 1.6);
    c.setAttribute("class", st);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${name}: ${st}`;
    c.append(title);
    svg.append(c);
  }
  return svg;
}

function table(columns, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "none"))));
}

function chart(points) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 100 40");
  svg.setAttribute("preserveAspectRatio", "none");
  if (points.length === 1) points = [[points[0][0] - 1, points[0][1]], points[0]];  // a flat line
  if (points.length > 1) {
    const ts = points.map((p) => Number(p[0])), vs = points.map((p) => Number(p[1]));
    const [t0, t1] = [Math.min(...ts), Math.max(...ts)], [v0, v1] = [Math.min(...vs, 0), Math.max(...vs, 1e-9)];
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.map((p) =>
      `${(100 * (p[0] - t0)) / (t1 - t0 || 1)},${40 - (40 * (p[1] - v0)) / (v1 - v0 || 1)}`).join(" "));
    svg.append(line);
  }
  return svg;
}

// what the site page charts: the names the sites report (/v1/metrics/query?name=&site=)
const CHARTS = ["host_memory_available_bytes", "host_disk_free_bytes", "server_cpu_utilization_ratio"];

function quantity(name, value) {
  const v = Number(value);
  if (name.endsWith("_bytes")) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    const i = Math.min(units.length - 1, Math.max(0, Math.floor(Math.log2(Math.abs(v) || 1) / 10)));
    return `${(v / 2 ** (10 * i)).toFixed(1)} ${units[i]}`;
  }
  if (name.endsWith("_ratio")) return `${(100 * v).toFixed(1)} %`;
  return v.toPrecision(4);
}

async function telemetry(site) {
  const answers = await Promise.all(CHARTS.map(async (name) => {
    try {
      const q = `name=${encodeURIComponent(name)}&site=${encodeURIComponent(site)}`;
      return { name, series: (await api("GET", `/v1/metrics/query?${q}`)).series || [] };
    } catch (err) {
      return { name, series: [], error: err };
    }
  }));
  if (answers.every((a) => a.error && a.error.status === 404)) {
    return h("p", { class: "muted" }, "this hub keeps no fleet telemetry");
  }
  const charts = answers.flatMap((a) => a.series.slice(0, 4).map((s) => {
    const labels = Object.entries(s.labels || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    return h("div", { class: "cell", "data-metric": a.name }, h("strong", {}, a.name),
      h("div", { class: "muted" }, labels, last === null ? "" : ` now ${quantity(a.name, last)}`),
      chart(s.points));
  }));
  return charts.length ? h("div", { class: "grid charts" }, charts) : h("p", { class: "muted" }, "no telemetry yet");
}

async function sitePage(name) {
  const site = await api("GET", `/v1/sites/${encodeURIComponent(name)}`);
  const base = `/v1/sites/${encodeURIComponent(name)}`;
  const [servers, networks, transfers, events] = await Promise.all([
    listOf(`${base}/servers?limit=200`), listOf(`${base}/networks?limit=200`),
    listOf(`/v1/image_transfers?site=${encodeURIComponent(name)}&limit=200`),
    listOf(`${base}/events?limit=1000`)]);
  const cap = site.capacity, use = site.usage, sync = site.sync || {};
  const stat = (o) => (o.status && typeof o.status === "object" ? o.status.state : o.status) || "-";
  return h("div", { "data-site-detail": name },
    h("h1", {}, `Site ${site.name} `, stateTag(site.state)),
    h("p", { class: "muted" }, `region ${site.region} · last seen ${site.last_seen || "never"} · heard ${ago(sync.last_heard)} · `,
      `sync lag ${sync.pending_changes ?? "-"} changes · agent ${site.agent_version || "-"}`),
    h("h2", {}, "Capacity and usage"),
    table(["resource", "used / capacity"], ["vcpus", "ram_mb", "disk_gb"].map((k) =>
      h("tr", {}, h("td", {}, k), h("td", {}, bar(use[k], cap[k]))))),
    h("h2", {}, "Telemetry"), await telemetry(name),
    h("h2", {}, "Servers"),
    table(["name", "project", "state", "origin"], servers.map((s) =>
      h("tr", {}, h("td", {}, s.name), h("td", {}, s.project_id), h("td", {}, stateTag(stat(s))), h("td", {}, s.origin)))),
    h("h2", {}, "Networks"),
    table(["name", "project", "state", "origin"], networks.map((s) =>
      h("tr", {}, h("td", {}, s.name), h("td", {}, s.project_id), h("td", {}, stateTag(stat(s))), h("td", {}, s.origin)))),
    h("h2", {}, "Cached images"),
    table(["image", "state", "progress"], transfers.map((t) =>
      h("tr", {}, h("td", {}, t.image_name), h("td", {}, stateTag(t.state)), h("td", {}, bar(t.bytes_done, t.bytes_total))))),
    h("h2", {}, "Recent events"),
    table(["seq", "kind", "reason", "message", "at"], events.slice(-20).reverse().map((e) =>
      h("tr", {}, h("td", {}, e.seq), h("td", {}, e.event.kind), h("td", {}, e.event.reason),
        h("td", {}, e.event.message), h("td", {}, e.event.at)))));
}

async function vnfPage(id) {
  const instances = await listOf("/vnflcm/v2/vnf_instances");
  const rows = instances.map((v) => h("tr", { "data-vnf": v.id },
    h("td", {}, h("a", { href: `#/vnf/${encodeURIComponent(v.id)}` }, v.vnfInstanceName || v.id)),
    h("td", {}, v.vnfProductName || v.vnfdId || "-"), h("td", {}, stateTag(v.instantiationState)),
    h("td", {}, (v.instantiatedVnfInfo && v.instantiatedVnfInfo.vnfState) || "-")));
  const parts = [h("h1", {}, "VNF instances"),
    table(["instance", "product / VNFD", "instantiation", "VNF state"], rows, { id: "vnf-instances" })];
  if (id) {
    const occs = await listOf(`/vnflcm/v2/vnf_lcm_op_occs?filter=${encodeURIComponent(`(eq,vnfInstanceId,${id})`)}`);
    occs.sort((a, b) => String(a.startTime).localeCompare(String(b.startTime)));
    parts.push(h("h2", {}, `Timeline of ${id}`), h("ol", { class: "timeline", id: "timeline" }, occs.length
      ? occs.map((o) => h("li", { "data-occ": o.id }, h("strong", {}, o.operation), " ", stateTag(o.operationState),
        h("div", { class: "muted" }, `started ${o.startTime || "-"} · ${o.operationState} since ${o.stateEnteredTime || "-"}`),
        o.error ? h("div", { class: "error" }, o.error.detail || o.error.title || JSON.stringify(o.error)) : null))
      : h("li", { class: "muted" }, "no operations")));
  }
  return h("div", {}, parts);
}

async function imagesPage() {
  const [images, transfers] = await Promise.all([listOf("/v1/images?limit=200"), listOf("/v1/image_transfers?limit=1000")]);
  const bySite = {};
  for (const t of transfers) (bySite[t.image_id] = bySite[t.image_id] || []).push(t);
  return h("div", {}, h("h1", {}, "Images"), images.map((img) => h("div", { "data-image": img.id },
    h("h2", {}, `${img.name} `, stateTag(img.status), h("span", { class: "muted" }, ` ${img.size ?? 0} bytes`)),
    table(["site", "state", "prestage progress"], (bySite[img.id] || []).map((t) =>
      h("tr", {}, h("td", {}, t.site), h("td", {}, stateTag(t.state)), h("td", {}, bar(t.bytes_done, t.bytes_total))))))));
}

async function alarmsPage() {
  const alarms = await listOf("/v1/alarms?limit=1000");
  const act = (id, path, body) => async () => { await api("POST", `/v1/alarms/${id}/${path}`, body); render(); };
  return h("div", {}, h("h1", {}, "Alarms"), table(
    ["alarm", "site", "severity", "state", "reason", "since", ""],
    alarms.map((a) => h("tr", { "data-alarm": a.id },
      h("td", {}, a.name), h("td", {}, a.site || "hub"), h("td", {}, a.severity), h("td", {}, stateTag(a.state)),
      h("td", {}, a.state_reason), h("td", {}, a.state_timestamp),
      h("td", { class: "actions" },
        a.acknowledged ? h("span", { class: "muted acknowledged" }, "acknowledged")
          : h("button", { onclick: act(a.id, "acknowledge", {}) }, "Acknowledge"),
        a.silenced_until ? h("span", { class: "muted" }, ` silenced until ${a.silenced_until}`)
          : h("button", { class: "secondary", onclick: act(a.id, "silence", { seconds: 3600 }) }, "Silence 1h")))),
    { id: "alarms" }));
}

async function conflictsPage() {
  const conflicts = await listOf("/v1/conflicts?state=open&limit=1000");
  const resolve = (id, keep) => async () => { await api("POST", `/v1/conflicts/${id}/resolve`, { keep }); render(); };
  return h("div", {}, h("h1", {}, "Open conflicts"), table(
    ["site", "object", "site did", "since", ""],
    conflicts.map((c) => h("tr", { "data-conflict": c.id },
      h("td", {}, c.site), h("td", {}, `${c.kind} ${c.name || c.object_id}`), h("td", {}, c.op),
      h("td", {}, c.created_at),
      h("td", { class: "actions" },
        h("button", { onclick: resolve(c.id, "hub") }, "Keep hub"),
        h("button", { class: "secondary", onclick: resolve(c.id, "site") }, "Keep site")))),
    { id: "conflicts" }));
}

document.addEventListener("DOMContentLoaded", start);
