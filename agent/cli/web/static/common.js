// Shared by both pages. Text goes in with textContent; only fields named *_html, which the server
// escaped and neutralised (agent/cli/web/display.py), are set as HTML.
"use strict";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function htmlEl(tag, className, html) {
  const node = el(tag, className);
  node.innerHTML = html;  // server-made: escaped, control characters marked
  return node;
}

async function api(path, options) {
  const init = Object.assign({credentials: "same-origin"}, options || {});
  if (init.body !== undefined) {
    init.method = init.method || "POST";
    init.headers = Object.assign({"Content-Type": "application/json"}, init.headers || {});
    init.body = JSON.stringify(init.body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const message = data && data.error ? data.error : response.status + " " + response.statusText;
    throw new Error(message);
  }
  return data;
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 10) return value.toFixed(2) + " s";
  if (value < 120) return value.toFixed(1) + " s";
  return Math.floor(value / 60) + " min " + Math.round(value % 60) + " s";
}

function when(epochSeconds) {
  if (!epochSeconds) return "";
  const d = new Date(epochSeconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

const STATE_LABELS = {
  done: "done", failed: "failed", budget_exhausted: "budget exhausted", interrupted: "interrupted",
  running: "running", stopping: "stopping", awaiting_approval: "waiting for approval", ended: "ended",
  crashed: "crashed",
};

function badge(node, state) {
  node.textContent = STATE_LABELS[state] || state;
  node.className = "badge " + String(state).replace(/[^a-z_]/g, "");
}

// A run id shown whole, selected whole on click, with a button that copies it.
function runIdNode(id) {
  const wrap = el("span", "run-id-wrap");
  const code = el("code", "run-id", id);
  const button = el("button", "copy", "copy");
  button.type = "button";
  button.title = "copy the run id";
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    event.stopPropagation();
    try {
      await navigator.clipboard.writeText(id);
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "copied";
    setTimeout(() => { button.textContent = "copy"; }, 1200);
  });
  wrap.append(code, button);
  return wrap;
}
