// The runs list: newest first, filtered as you type, refreshed every few seconds; the start-a-goal form.
"use strict";

let allRuns = [];

function matches(run, words) {
  const hay = [run.id, run.goal, run.status, run.model, run.answer].join(" ").toLowerCase();
  return words.every((w) => hay.includes(w));
}

function renderRuns() {
  const words = document.getElementById("search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const body = document.querySelector("#runs tbody");
  const shown = allRuns.filter((r) => matches(r, words));
  body.replaceChildren(...shown.map((run) => {
    const row = el("tr");
    row.dataset.runId = run.id;
    const idCell = el("td", "id-cell");
    idCell.append(runIdNode(run.id));
    const goalCell = el("td", "goal-cell");
    const link = run.goal_html ? htmlEl("a", null, run.goal_html) : el("a", "muted", "(no goal)");
    link.href = "/runs/" + encodeURIComponent(run.id);
    goalCell.append(link);
    const statusCell = el("td");
    const b = el("span");
    badge(b, run.status);
    statusCell.append(b);
    row.append(idCell, goalCell, statusCell, el("td", "num", run.steps), el("td", "num", seconds(run.duration_s)),
      el("td", "when", when(run.started)));
    return row;
  }));
  document.getElementById("empty").hidden = shown.length > 0;
  document.getElementById("empty").textContent = allRuns.length ? "No run matches." : "No runs yet.";
}

async function refresh() {
  try {
    allRuns = await api("/api/runs");
    renderRuns();
  } catch (e) {
    document.getElementById("empty").hidden = false;
    document.getElementById("empty").textContent = "Could not read the runs: " + e.message;
  }
}

async function loadSettings() {
  const settings = await api("/api/settings");
  const model = document.getElementById("model");
  model.replaceChildren(...settings.models.map((m) => { const o = el("option", null, m); o.value = m; return o; }));
  const sandbox = document.getElementById("sandbox");
  sandbox.replaceChildren(...settings.sandboxes.map((s) => { const o = el("option", null, s); o.value = s; return o; }));
  sandbox.value = settings.sandbox;
  document.getElementById("approve").checked = settings.approve;
  document.getElementById("max-steps").value = settings.max_steps;
  document.getElementById("where").textContent = "workspace " + settings.workspace;
}

async function startGoal(event) {
  event.preventDefault();
  const button = document.getElementById("start-button");
  const error = document.getElementById("start-error");
  error.hidden = true;
  button.disabled = true;
  button.textContent = "Starting (loading the model)...";
  try {
    const started = await api("/api/runs", {body: {
      goal: document.getElementById("goal").value,
      model: document.getElementById("model").value,
      sandbox: document.getElementById("sandbox").value,
      max_steps: Number(document.getElementById("max-steps").value),
      approve: document.getElementById("approve").checked,
    }});
    window.location.href = "/runs/" + encodeURIComponent(started.run_id);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    button.disabled = false;
    button.textContent = "Start";
  }
}

document.getElementById("search").addEventListener("input", renderRuns);
document.getElementById("start-form").addEventListener("submit", startGoal);
document.getElementById("goal").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) startGoal(event);
});
loadSettings().catch((e) => {
  const error = document.getElementById("start-error");
  error.textContent = "Could not read the settings: " + e.message;
  error.hidden = false;
});
refresh();
setInterval(refresh, 3000);
