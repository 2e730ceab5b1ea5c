// The mock's control panel: plain JavaScript over the /__mock control routes of the same origin.
"use strict";

const TOKEN_KEY = "leads-mock-admin-token";
const MAX_ROWS = 200; // journal rows kept on the page
const POLL_WAIT_SECONDS = 15;
const POLL_LIMIT = 50; // entries a poll brings at most: under a flood, the newest
// After an answer with entries, wait this long before the next poll: a lone request shows at
// once, a flood at most once a second, so that following it costs the browser (and the
// machine the mock shares with it) next to nothing.
const POLL_PAUSE_MS = 1000;
const STATUSES = ["new", "contacted", "qualified", "unqualified", "converted", "lost"];
const INTEREST_LEVELS = ["hot", "warm", "cold"];

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  after: 0,
  keys: [],
  page: 1,
  pages: 1,
  tab: "leads",
  openSeq: null,
  refreshTimer: null,
  needsToken: false,
};

const $ = (selector) => document.querySelector(selector);

class TokenNeeded extends Error {}

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/__mock${path}`, {
    method, headers, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try { payload = await response.json(); } catch (error) { payload = null; }
  if (response.status === 401) {
    askForToken(state.token ? "The admin token was not accepted; enter it again." : null);
    throw new TokenNeeded();
  }
  if (!response.ok || !payload || payload.success !== true) {
    const error = payload && payload.error;
    const details = error && Array.isArray(error.details)
      ? error.details.map((item) => `${item.field}: ${item.message}`).join("; ") : "";
    throw new Error(error ? `${error.message}${details ? ` (${details})` : ""}` : `HTTP ${response.status}`);
  }
  return payload;
}

function askForToken(reason) {
  state.needsToken = true;
  if (reason) $("#token-reason").textContent = reason;
  $("#token-form").hidden = false;
  setConnection("admin token needed", "warn");
  $("#token").focus();
}

function say(text, kind = "ok") {
  const message = $("#message");
  message.textContent = text;
  message.className = `message ${kind}`;
}

function setConnection(text, kind) {
  const connection = $("#connection");
  connection.textContent = text;
  connection.className = `connection ${kind}`;
}

async function act(what, work) {
  try {
    const payload = await work();
    say(payload && payload.message ? payload.message : what);
    return payload;
  } catch (error) {
    if (!(error instanceof TokenNeeded)) say(`${what} failed: ${error.message}`, "error");
    return null;
  }
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function statusClass(status) {
  if (status === null) return "s-none";
  return `s${String(status)[0]}xx`;
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

// -- journal -------------------------------------------------------------------------------------

function addEntries(entries) {
  const body = $("#journal tbody");
  const fragment = document.createDocumentFragment();
  let wrote = false;
  for (const entry of entries) { // newest first
    const row = document.createElement("tr");
    row.dataset.seq = entry.seq;
    row.className = statusClass(entry.status);
    cell(row, entry.seq, "num");
    cell(row, entry.time.slice(11, 23), "time");
    cell(row, entry.method, "method");
    cell(row, entry.path + (entry.query ? `?${entry.query}` : ""), "path");
    cell(row, entry.status === null ? "—" : entry.status, "status");
    cell(row, entry.duration_ms.toFixed(1), "num");
    cell(row, entry.api_key || "no key", "key");
    if (entry.cut.length) row.title = `cut: ${entry.cut.join(", ")}`;
    fragment.appendChild(row);
    if (entry.method !== "GET" && entry.status !== null && entry.status < 400) wrote = true;
  }
  body.insertBefore(fragment, body.firstChild);
  while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
  $("#journal-empty").hidden = body.rows.length > 0;
  $("#journal-count").textContent = `${body.rows.length} shown`;
  if (wrote) scheduleDataRefresh();
}

async function followJournal() {
  for (;;) {
    if (state.needsToken || !$("#follow").checked) { await sleep(300); continue; }
    try {
      const wait = state.after === 0 ? 0 : POLL_WAIT_SECONDS;
      const payload = await api("GET", `/journal?after=${state.after}&wait=${wait}&limit=${POLL_LIMIT}`);
      setConnection("live", "ok");
      const entries = payload.data.entries;
      if (entries.length) {
        state.after = entries[0].seq;
        addEntries(entries);
        await sleep(POLL_PAUSE_MS);
      } else if (state.after === 0) {
        state.after = payload.data.last_seq;
      }
    } catch (error) {
      if (!(error instanceof TokenNeeded)) setConnection("mock unreachable, retrying", "error");
      await sleep(2000);
    }
  }
}

async function openEntry(seq) {
  for (const row of document.querySelectorAll("#journal tr.open")) row.classList.remove("open");
  const row = document.querySelector(`#journal tr[data-seq="${seq}"]`);
  if (row) row.classList.add("open");
  state.openSeq = seq;
  let payload;
  try {
    payload = await api("GET", `/journal/${seq}`);
  } catch (error) {
    if (!(error instanceof TokenNeeded)) say(`Request #${seq}: ${error.message}`, "error");
    return;
  }
  const entry = payload.data;
  $("#entry-title").textContent = `#${entry.seq} ${entry.method} ${entry.path}`;
  $("#curl").textContent = entry.curl;
  $("#curl-note").hidden = entry.curl_is_exact;
  fillHeaders("#request-headers", entry.request.headers);
  fillHeaders("#response-headers", entry.response.headers);
  $("#request-body").textContent = entry.request.body_read
    ? (entry.request.body ? pretty(entry.request.body) : "(empty body)") : "(no body read)";
  $("#response-body").textContent = entry.response.body ? pretty(entry.response.body) : "(empty body)";
  $("#response-status").textContent = entry.status === null ? "(none: the client went away)" : entry.status;
  $("#entry").hidden = false;
}

function fillHeaders(selector, headers) {
  const body = $(`${selector} tbody`);
  body.replaceChildren();
  for (const [name, value] of headers) {
    const row = body.insertRow();
    cell(row, name, "name");
    cell(row, value);
  }
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (error) { return text; }
}

// -- data ----------------------------------------------------------------------------------------

function masked(key) { return key.length > 4 ? `****${key.slice(-4)}` : "****"; }

async function loadKeys() {
  const payload = await api("GET", "/keys?reveal=true");
  state.keys = payload.data.keys;
  for (const selector of ["#data-key", "#exhaust-key"]) {
    const select = $(selector);
    const chosen = select.value;
    select.replaceChildren(...state.keys.map((key, index) => {
      const option = new Option(`${masked(key)}${index === 0 ? " (fixtures)" : ""}`, key);
      return option;
    }));
    if (state.keys.includes(chosen)) select.value = chosen;
  }
}

function scheduleDataRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => refreshData().catch(() => {}), 700);
}

function keyQuery() { return `api_key=${encodeURIComponent($("#data-key").value)}`; }

async function refreshData() {
  const status = $("#filter-status").value;
  const interest = $("#filter-interest").value;
  let query = `${keyQuery()}&page=${state.page}&limit=25`;
  if (status) query += `&status=${status}`;
  if (interest) query += `&interest_level=${interest}`;
  const [leads, contacts, clients] = await Promise.all([
    api("GET", `/data/leads?${query}`), api("GET", `/contacts?${keyQuery()}`), api("GET", `/clients?${keyQuery()}`),
  ]);
  const page = leads.data;
  state.pages = page.pages;
  if (state.page > page.pages) { state.page = page.pages; return refreshData(); }
  $("#leads-total").textContent = page.total;
  $("#contacts-total").textContent = contacts.data.total;
  $("#clients-total").textContent = clients.data.total;
  $("#page-info").textContent = `page ${page.page} of ${page.pages}`;
  $("#page-prev").disabled = page.page <= 1;
  $("#page-next").disabled = page.page >= page.pages;
  showCounts(page.stats);
  const body = $("#leads tbody");
  body.replaceChildren();
  for (const lead of page.leads) {
    const row = body.insertRow();
    cell(row, lead.name);
    cell(row, lead.email);
    cell(row, lead.status, `pill ${lead.status}`);
    cell(row, lead.interest_level, `pill ${lead.interest_level}`);
    cell(row, lead.budget === null ? "" : `$${Number(lead.budget).toLocaleString("en-US")}`, "num");
    cell(row, lead.updated_at.slice(0, 16).replace("T", " "), "time");
  }
  fillRecords("#contacts", contacts.data.contacts,
    (record) => [record.name, record.email, record.phone, (record.created_at || "").slice(0, 10)]);
  fillRecords("#clients", clients.data.clients, (record) => [
    record.id.slice(0, 8), record.client_type, record.status,
    record.price_range_min === null ? "" : `$${record.price_range_min.toLocaleString("en-US")}–$${record.price_range_max.toLocaleString("en-US")}`,
    (record.created_at || "").slice(0, 10)]);
}

function fillRecords(selector, records, columns) {
  const body = $(`${selector} tbody`);
  body.replaceChildren();
  for (const record of records.slice(0, 200)) {
    const row = body.insertRow();
    for (const value of columns(record)) cell(row, value);
  }
}

function showCounts(stats) {
  const counts = $("#counts");
  counts.replaceChildren();
  const add = (label, value, filter, choice) => {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "count";
    chip.textContent = `${label} ${value}`;
    if (filter) {
      chip.dataset.filter = filter;
      chip.dataset.choice = choice;
      if ($(filter).value === choice) chip.classList.add("active");
    }
    counts.appendChild(chip);
  };
  add("all", stats.total);
  for (const status of STATUSES) add(status, stats.byStatus[status], "#filter-status", status);
  for (const level of INTEREST_LEVELS) add(level, stats.byInterestLevel[level], "#filter-interest", level);
}

// -- faults, limits, data sets -------------------------------------------------------------------

async function loadSettings() {
  const [settings, forced] = await Promise.all([api("GET", "/settings"), api("GET", "/forced-codes")]);
  const values = settings.data;
  $("#latency-min").value = values.latency_ms ? values.latency_ms[0] : "";
  $("#latency-max").value = values.latency_ms ? values.latency_ms[1] : "";
  $("#error-rate").value = values.error_rate;
  $("#rate-limit").value = values.rate_limit;
  $("#rate-window").value = values.rate_window_seconds;
  showForced(forced.data);
}

function showForced(view) {
  const select = $("#forced-operation");
  if (!select.options.length) select.replaceChildren(...view.operations.map((id) => new Option(id, id)));
  const list = $("#forced-list");
  list.replaceChildren();
  for (const [operation, code] of Object.entries(view.forced)) {
    const item = document.createElement("li");
    item.textContent = `${operation} → ${code} `;
    const clear = document.createElement("button");
    clear.type = "button";
    clear.textContent = "×";
    clear.title = `stop forcing ${operation}`;
    clear.dataset.operation = operation;
    item.appendChild(clear);
    list.appendChild(item);
  }
}

function showDatasets(view) {
  const list = $("#saved-list");
  list.replaceChildren();
  if (!view.saved.length) {
    const none = document.createElement("li");
    none.className = "empty";
    none.textContent = "none yet";
    list.appendChild(none);
  }
  for (const name of view.saved) {
    const item = document.createElement("li");
    const load = document.createElement("button");
    load.type = "button";
    load.textContent = `Load “${name}”`;
    load.dataset.name = name;
    item.appendChild(load);
    list.appendChild(item);
  }
  $("#generate-count").max = view.max_generated;
}

function numberOrNull(selector) {
  const raw = $(selector).value.trim();
  return raw === "" ? null : Number(raw);
}

async function afterDataChange(payload) {
  if (payload && payload.data && payload.data.saved) showDatasets(payload.data);
  state.page = 1;
  await refreshData().catch(() => {});
}

function wire() {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("#token").value;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("#token-form").hidden = true;
    state.needsToken = false;
    start();
  });
  $("#journal tbody").addEventListener("click", (event) => {
    const row = event.target.closest("tr");
    if (row) openEntry(Number(row.dataset.seq));
  });
  $("#journal-clear").addEventListener("click", () => act("Journal cleared", async () => {
    const payload = await api("DELETE", "/journal");
    $("#journal tbody").replaceChildren();
    $("#journal-empty").hidden = false;
    $("#journal-count").textContent = "";
    return payload;
  }));
  $("#curl-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("#curl").textContent); say("curl line copied"); }
    catch (error) { say("Copying needs clipboard access; select the line instead", "error"); }
  });

  for (const status of STATUSES) $("#filter-status").add(new Option(status, status));
  for (const level of INTEREST_LEVELS) $("#filter-interest").add(new Option(level, level));
  for (const selector of ["#data-key", "#filter-status", "#filter-interest"]) {
    $(selector).addEventListener("change", () => { state.page = 1; refreshData().catch(() => {}); });
  }
  $("#counts").addEventListener("click", (event) => {
    const chip = event.target.closest("button");
    if (!chip) return;
    if (chip.dataset.filter) {
      const select = $(chip.dataset.filter);
      select.value = select.value === chip.dataset.choice ? "" : chip.dataset.choice;
    } else {
      $("#filter-status").value = "";
      $("#filter-interest").value = "";
    }
    state.page = 1;
    refreshData().catch(() => {});
  });
  $("#data-refresh").addEventListener("click", () => refreshData().catch(() => {}));
  $("#page-prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); refreshData().catch(() => {}); });
  $("#page-next").addEventListener("click", () => { state.page = Math.min(state.pages, state.page + 1); refreshData().catch(() => {}); });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
      for (const pane of document.querySelectorAll("[data-pane]")) pane.hidden = pane.dataset.pane !== tab.dataset.tab;
    });
  }

  $("#latency-apply").addEventListener("click", () => act("Latency set", () => {
    const low = numberOrNull("#latency-min");
    const high = numberOrNull("#latency-max") ?? low;
    return api("PATCH", "/settings", { latency_ms: low === null ? null : [low, high] });
  }));
  $("#latency-off").addEventListener("click", () => act("Latency off", async () => {
    const payload = await api("PATCH", "/settings", { latency_ms: null });
    $("#latency-min").value = "";
    $("#latency-max").value = "";
    return payload;
  }));
  $("#error-rate-apply").addEventListener("click", () => act("Error rate set",
    () => api("PATCH", "/settings", { error_rate: numberOrNull("#error-rate") ?? 0 })));
  $("#rate-apply").addEventListener("click", () => act("Rate limit set", () => api("PATCH", "/settings", {
    rate_limit: numberOrNull("#rate-limit"), rate_window_seconds: numberOrNull("#rate-window"),
  })));
  $("#forced-apply").addEventListener("click", () => act("Forced answer set", async () => {
    const payload = await api("PATCH", "/forced-codes", { [$("#forced-operation").value]: numberOrNull("#forced-code") });
    showForced(payload.data);
    return payload;
  }));
  $("#forced-list").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    act("Forced answer cleared", async () => {
      const payload = await api("PATCH", "/forced-codes", { [button.dataset.operation]: null });
      showForced(payload.data);
      return payload;
    });
  });
  $("#exhaust").addEventListener("click", () => act("Window exhausted",
    () => api("POST", "/rate-limit/exhaust", { api_key: $("#exhaust-key").value })));

  $("#dataset-save").addEventListener("click", () => act("Data set saved", async () => {
    const payload = await api("POST", "/datasets", { name: $("#dataset-name").value.trim() });
    showDatasets(payload.data);
    return payload;
  }));
  $("#saved-list").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    act("Data set loaded", async () => {
      const payload = await api("POST", "/datasets/load", { name: button.dataset.name });
      await afterDataChange(payload);
      return payload;
    });
  });
  const builtin = (body) => act("Data set loaded", async () => {
    const payload = await api("POST", "/datasets/load", body);
    await afterDataChange(payload);
    return payload;
  });
  $("#builtin-fixtures").addEventListener("click", () => builtin({ builtin: "fixtures" }));
  $("#builtin-empty").addEventListener("click", () => builtin({ builtin: "empty" }));
  $("#builtin-generated").addEventListener("click", () => builtin({
    builtin: "generated", count: numberOrNull("#generate-count") ?? 0, seed: numberOrNull("#generate-seed") ?? 1,
  }));

  $("#reset").addEventListener("click", () => $("#reset-dialog").showModal());
  $("#reset-dialog").addEventListener("close", () => {
    if ($("#reset-dialog").returnValue !== "reset") return;
    act("Reset", async () => {
      const payload = await api("POST", "/reset");
      await afterDataChange(null);
      return payload;
    });
  });
}

let following = false;

async function start() {
  try {
    await loadKeys();
    await Promise.all([loadSettings(), refreshData(), api("GET", "/datasets").then((p) => showDatasets(p.data))]);
  } catch (error) {
    if (!(error instanceof TokenNeeded)) setConnection(`cannot load the controls: ${error.message}`, "error");
    return;
  }
  document.body.dataset.ready = "true";
  if (!following) {
    following = true;
    followJournal();
  }
}

wire();
start();
