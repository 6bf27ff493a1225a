// One run's page: its events from the server-sent stream (the log from the start, then live), its
// status (a call waiting for approval, a stop on its way), and the buttons that steer it.
"use strict";

const runId = decodeURIComponent(location.pathname.split("/")[2] || "");
const ACTIVE = ["running", "stopping", "awaiting_approval"];
const cards = new Map();   // step -> {card, tool, meta, body, action, obs}
const timing = new Map();  // step -> {prefill, decode, tool} seconds
let finalStatus = null;
let current = null;        // the last status message
let stream = null;

const $ = (id) => document.getElementById(id);

function stepCard(step) {
  if (cards.has(step)) return cards.get(step);
  const card = el("li", "step");
  card.dataset.step = step;
  const head = el("div", "step-head");
  const tool = el("span", "tool");
  const meta = el("span", "meta");
  head.append(el("span", "step-title", step === 0 ? "Start" : "Step " + step), tool, meta);
  const body = el("div", "step-body");
  card.append(head, body);
  $("steps").append(card);
  $("no-steps").hidden = true;
  const entry = {card, tool, meta, body, action: null, obs: null};
  cards.set(step, entry);
  return entry;
}

function updateMeta(entry) {
  const parts = [];
  const a = entry.action;
  if (a) {
    parts.push(a.tokens_in + " tokens in · " + a.tokens_out + " out");
    parts.push("model " + seconds(a.seconds));
  }
  if (entry.obs) parts.push("tool " + seconds(entry.obs.seconds));
  entry.meta.textContent = parts.join(" · ");
}

function codeBlock(label, html) {
  const wrap = el("div", "code-wrap");
  wrap.append(el("div", "code-label", label), htmlEl("pre", "code", html));
  return wrap;
}

function onStarted(event, view) {
  $("goal").innerHTML = view.goal_html;
  document.title = "Auto-GPT · " + event.goal.split("\n")[0].slice(0, 60);
}

function onPlan(event, view) {
  $("plan-card").hidden = view.steps.length === 0;
  $("plan").replaceChildren(...view.steps.map((s) => {
    const item = htmlEl("li", "plan-step " + s.status, s.text_html);
    item.title = s.status.replace("_", " ");
    return item;
  }));
}

function onAction(event, view) {
  const entry = stepCard(event.step);
  entry.action = event;
  entry.tool.textContent = event.tool;
  if (view.thought_html) entry.body.append(htmlEl("p", "thought", view.thought_html));
  const block = codeBlock(view.code_label, view.code_html);
  if (view.path_html) {
    const label = block.querySelector(".code-label");
    label.replaceChildren(htmlEl("code", null, view.path_html), el("span", null, " " + view.code_label));
  }
  entry.body.append(block);
  timing.set(event.step, {prefill: event.prefill_seconds || 0, decode: view.decode_seconds || 0, tool: 0});
  updateMeta(entry);
  drawChart();
}

function onObservation(event, view) {
  const entry = stepCard(event.step);
  entry.obs = event;
  const state = event.interrupted ? "interrupted" : (event.ok ? "ok" : "failed");
  const box = el("div", "observation " + state);
  box.append(el("div", "code-label", state === "ok" ? "result" : state));
  if (view.head_html) {
    const head = htmlEl("pre", "output", view.head_html);
    const more = el("details", "more");
    more.append(el("summary", null, "show all " + view.lines + " lines"), htmlEl("pre", "output", view.output_html));
    more.addEventListener("toggle", () => { head.hidden = more.open; });
    box.append(head, more);
  } else {
    box.append(htmlEl("pre", "output", view.output_html));
  }
  entry.body.append(box);
  entry.card.classList.add(state);
  if (view.file_written) addFile(view.file_written, event.step);
  const t = timing.get(event.step) || {prefill: 0, decode: 0, tool: 0};
  t.tool = event.seconds || 0;
  timing.set(event.step, t);
  updateMeta(entry);
  drawChart();
}

function onError(event, view) {
  const entry = stepCard(event.step);
  const line = el("p", "warning");
  line.append(el("span", "kind", event.kind.replace(/_/g, " ")), htmlEl("span", null, view.message_html));
  entry.body.append(line);
}

function onFinal(event, view) {
  finalStatus = event.status;
  $("answer").hidden = false;
  $("answer").className = "card answer " + event.status;
  $("answer-text").innerHTML = view.answer_html || "<span class=\"muted\">(no answer)</span>";
  $("reason").innerHTML = view.reason_html;
  $("no-files").textContent = "None.";
  showStatus(current);
}

function addFile(file, step) {
  $("no-files").hidden = true;
  const existing = [...$("files").children].find((li) => li.dataset.path === file.path);
  const item = el("li");
  item.dataset.path = file.path;
  const details = el("details");
  const summary = el("summary");
  summary.append(htmlEl("code", null, file.path_html), el("span", "muted", " " + file.bytes + " bytes, step " + step));
  details.append(summary, htmlEl("pre", "code", file.code_html));
  item.append(details);
  if (existing) existing.replaceWith(item); else $("files").append(item);
}

function drawChart() {
  const svg = $("chart");
  const NS = "http://www.w3.org/2000/svg";
  const steps = [...timing.keys()].sort((a, b) => a - b);
  const width = 320, height = 150, left = 34, bottom = 18, top = 8;
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.replaceChildren();
  if (!steps.length) return;
  const totals = steps.map((s) => { const t = timing.get(s); return t.prefill + t.decode + t.tool; });
  const max = Math.max(0.001, ...totals);
  const slot = (width - left) / Math.max(steps.length, 6);
  const scale = (height - top - bottom) / max;
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("line", {x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "axis"});
  add("text", {x: left - 4, y: top + 8, class: "tick", "text-anchor": "end"}, seconds(max));
  add("text", {x: left - 4, y: height - bottom, class: "tick", "text-anchor": "end"}, "0");
  steps.forEach((step, index) => {
    const t = timing.get(step);
    let y = height - bottom;
    const x = left + index * slot + slot * 0.15;
    for (const part of ["prefill", "decode", "tool"]) {
      const h = t[part] * scale;
      if (h <= 0) continue;
      y -= h;
      const rect = add("rect", {x: x, y: y, width: slot * 0.7, height: h, class: "bar " + part});
      const title = document.createElementNS(NS, "title");
      title.textContent = "step " + step + ": " + part + " " + seconds(t[part]);
      rect.append(title);
    }
    if (steps.length <= 24) {
      add("text", {x: x + slot * 0.35, y: height - 5, class: "tick", "text-anchor": "middle"}, String(step));
    }
  });
}

function showStatus(s) {
  if (!s) return;
  current = s;
  const state = s.state === "ended" || (finalStatus && !ACTIVE.includes(s.state)) ? (finalStatus || "ended") : s.state;
  badge($("state"), state);
  $("stop").hidden = !(s.here && (s.state === "running" || s.state === "awaiting_approval"));
  $("resume").hidden = !(s.state === "interrupted" && !finalStatus);
  $("live-text").hidden = !(s.text && s.state === "running");
  $("live-text").textContent = s.text ? "the model is writing: " + s.text : "";
  $("action-error").hidden = !s.error;
  $("action-error").textContent = s.error ? s.state + ": " + s.error : "";
  showApproval(s.approval);
}

function showApproval(approval) {
  const panel = $("approval");
  if (!approval) {
    panel.hidden = true;
    panel.dataset.id = "";
    return;
  }
  if (panel.dataset.id !== approval.id) {
    panel.dataset.id = approval.id;
    $("approval-title").innerHTML = approval.title_html;
    $("approval-body").innerHTML = approval.body_html;
    $("always-tool").textContent = approval.tool;
    $("approval-detail").value = "";
    $("approval-error").hidden = true;
    panel.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
  panel.hidden = false;
}

async function answer(decision) {
  const panel = $("approval");
  const detail = $("approval-detail").value;
  if (decision === "edit" && !detail.trim()) {
    $("approval-error").textContent = "Type the instruction for the model first.";
    $("approval-error").hidden = false;
    $("approval-detail").focus();
    return;
  }
  panel.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    await api("/api/runs/" + encodeURIComponent(runId) + "/approval",
      {body: {approval_id: panel.dataset.id, decision: decision, detail: detail}});
    panel.hidden = true;
  } catch (e) {
    $("approval-error").textContent = e.message;
    $("approval-error").hidden = false;
    panel.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
}

async function control(what) {
  $("action-error").hidden = true;
  try {
    await api("/api/runs/" + encodeURIComponent(runId) + "/" + what, {body: {}});
    if (what === "resume") $("resume").hidden = true;
  } catch (e) {
    $("action-error").textContent = e.message;
    $("action-error").hidden = false;
  }
}

async function loadFacts() {
  try {
    const run = await api("/api/runs/" + encodeURIComponent(runId));
    const budget = (run.config && run.config.budget) || {};
    const facts = [["model", run.model], ["started", when(run.started)], ["steps", run.steps],
      ["tokens", run.tokens], ["duration", seconds(run.duration_s)],
      ["sandbox", run.config && run.config.sandbox], ["step budget", budget.max_steps],
      ["workspace", run.config && run.config.workspace]];
    if (run.torn_tail) facts.push(["log", "its last line was torn"]);
    $("facts").replaceChildren(...facts.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => {
      const fact = el("div", "fact");
      fact.append(el("dt", null, k), el("dd", null, v));
      return fact;
    }));
  } catch (e) {
    $("action-error").textContent = e.message;
    $("action-error").hidden = false;
  }
}

const HANDLERS = {run_started: onStarted, plan: onPlan, action: onAction, observation: onObservation,
  error: onError, final: onFinal};

function connect() {
  stream = new EventSource("/api/runs/" + encodeURIComponent(runId) + "/events");
  stream.addEventListener("event", (message) => {
    const data = JSON.parse(message.data);
    const handle = HANDLERS[data.event.type];
    if (handle) handle(data.event, data.view);
  });
  stream.addEventListener("status", (message) => {
    const previous = current;
    showStatus(JSON.parse(message.data));
    if (!previous || previous.state !== current.state) loadFacts();
  });
  stream.addEventListener("damaged", (message) => {
    const data = JSON.parse(message.data);
    $("steps").append(el("li", "step warning", "line " + data.seq + " of the log is damaged and was skipped"));
  });
  stream.addEventListener("end", () => {
    stream.close();
    loadFacts();
  });
}

$("run-id-slot").append(runIdNode(runId));
document.querySelectorAll("#approval button[data-decision]").forEach((button) => {
  button.addEventListener("click", () => answer(button.dataset.decision));
});
$("stop").addEventListener("click", () => control("stop"));
$("resume").addEventListener("click", () => control("resume"));
loadFacts();
connect();
