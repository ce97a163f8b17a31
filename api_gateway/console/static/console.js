// The console's little JavaScript: live updates of a running command, select-all, and the
// purge confirmation. No build step; served as is.
"use strict";

function text(tag, cls, value) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  el.textContent = value;
  return el;
}

function clock(iso) {
  return new Date(iso).toISOString().slice(11, 23);
}

function renderTimeline(list, timeline) {
  list.replaceChildren(...timeline.map((change) => {
    const li = document.createElement("li");
    li.append(text("time", "", clock(change.at)), " ",
      text("span", "status status-" + change.status, change.status));
    return li;
  }));
}

function renderHooks(list, runs) {
  if (!runs.length) return;
  list.replaceChildren(...runs.map((record) => {
    const run = record.run;
    const li = document.createElement("li");
    li.className = "hook status-" + run.status;
    li.append(
      text("time", "", clock(record.at)),
      text("strong", "hook-name", run.module + "." + run.handler),
      text("span", "muted", "on " + run.event + (run.target ? " → " + run.target : " · priority " + run.priority) + " · try " + run.attempts),
      text("span", "status status-" + run.status, run.status),
      text("span", "bar-ms", run.duration_ms.toFixed(1) + " ms"),
    );
    if (run.error) li.append(text("div", "error", run.error));
    return li;
  }));
}

async function follow(section) {
  const url = section.dataset.live;
  for (let tries = 0; tries < 600; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const answer = await fetch(url, { credentials: "same-origin" });
    if (!answer.ok) return;
    const view = await answer.json();
    const summary = view.summary;
    const status = document.getElementById("status");
    status.textContent = summary.status;
    status.className = "status status-" + summary.status;
    document.getElementById("attempts").textContent = summary.attempts;
    renderTimeline(document.getElementById("timeline"), summary.timeline);
    renderHooks(document.getElementById("hooks"), view.hooks);
    renderHooks(document.getElementById("deliveries"), view.deliveries);
    if (view.done) { section.dataset.done = "true"; return; }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("command");
  if (section && section.dataset.done !== "true") follow(section);
  const all = document.getElementById("select-all");
  if (all) all.addEventListener("change", () => {
    document.querySelectorAll('input[name="letter"]').forEach((box) => { box.checked = all.checked; });
  });
  const purge = document.getElementById("purge");
  if (purge) purge.addEventListener("click", (e) => {
    const confirm = document.getElementById("confirm");
    if (confirm.value !== "purge") { e.preventDefault(); confirm.focus(); confirm.setCustomValidity("type purge"); confirm.reportValidity(); }
  });
});
