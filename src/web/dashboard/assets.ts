/**
 * The dashboard's one stylesheet and one script, served as they are (no build step). The script
 * streams a running stage's output (Server-Sent Events, text only: lines are set as textContent)
 * and sends action forms with fetch (the CSRF token rides along in the form).
 */

export const DASHBOARD_CSS = `
:root { --fg: #1f2328; --muted: #59636e; --bg: #fff; --line: #d1d9e0; --ok: #1a7f37; --bad: #cf222e; --run: #9a6700; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --line: #3d444d; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; justify-content: space-between; align-items: center; gap: 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header .brand { font-weight: 700; font-size: 1.1rem; color: var(--fg); text-decoration: none; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
footer { padding: 1rem; color: var(--muted); font-size: .8rem; text-align: center; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; word-break: break-word; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .85rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 1rem; border: 1px solid currentColor; font-size: .8rem; }
.s-passed, .s-valid, .s-accepted, .s-awake { color: var(--ok); }
.s-failed, .s-invalid, .s-refused, .s-cancelled { color: var(--bad); }
.s-running, .s-queued, .s-missing { color: var(--run); }
.detail, .note, .empty, small { color: var(--muted); }
.error { color: var(--bad); }
.log, .config { background: rgba(127,127,127,.08); border: 1px solid var(--line); padding: .6rem; overflow: auto; max-height: 32rem; white-space: pre-wrap; word-break: break-all; }
.log:empty::before { content: "(no output yet)"; color: var(--muted); }
form.action, form.inline { display: inline; margin: 0 .25rem .25rem 0; }
button, .button { font: inherit; padding: .35rem .7rem; border-radius: .4rem; border: 1px solid var(--line); background: transparent; color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
button.danger { color: var(--bad); border-color: var(--bad); }
button.link { border: 0; padding: 0; color: var(--accent); text-decoration: underline; }
.stack { display: flex; flex-direction: column; gap: .6rem; max-width: 24rem; }
.stack input { font: inherit; padding: .4rem; width: 100%; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dd { margin: 0; word-break: break-all; }
ul.repos { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; }
#flash { padding: .5rem .8rem; border: 1px solid var(--line); border-radius: .4rem; margin-bottom: 1rem; }
@media (max-width: 40rem) {
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border: 1px solid var(--line); border-radius: .4rem; margin-bottom: .6rem; padding: .3rem; }
  td { border: 0; padding: .2rem .3rem; }
  td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: .8rem; }
  dl.facts { grid-template-columns: 1fr; }
}
`;

export const DASHBOARD_JS = `
"use strict";
(function () {
  var MAX_LINES = 5000;
  function flash(text, bad) {
    var box = document.getElementById("flash");
    if (!box) { box = document.createElement("p"); box.id = "flash"; box.setAttribute("role", "status"); var main = document.querySelector("main"); main.insertBefore(box, main.firstChild); }
    box.textContent = text;
    box.className = bad ? "error" : "";
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("action")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    if (button) button.disabled = true;
    // The form has a field named "action": form.action is that field, not the URL.
    fetch(form.getAttribute("action"), { method: "POST", body: new URLSearchParams(new FormData(form)), headers: { accept: "application/json" }, credentials: "same-origin" })
      .then(function (res) { return res.json().then(function (body) { return { ok: res.ok, body: body }; }); })
      .then(function (r) { flash(r.body.message || (r.ok ? "Done." : "Refused."), !r.ok); if (r.ok) setTimeout(function () { location.reload(); }, 1500); })
      .catch(function (err) { flash("The action could not be sent: " + err, true); })
      .finally(function () { if (button) button.disabled = false; });
  });
  var log = document.getElementById("live-log");
  if (!log || log.getAttribute("data-live") !== "on" || !window.EventSource) return;
  var source = document.getElementById("live-source");
  var stream = new EventSource("/runs/" + encodeURIComponent(log.getAttribute("data-run")) + "/live");
  function append(text) {
    log.appendChild(document.createTextNode(text + "\\n"));
    while (log.childNodes.length > MAX_LINES) log.removeChild(log.firstChild);
    log.scrollTop = log.scrollHeight;
  }
  stream.addEventListener("source", function (e) { if (source) source.textContent = JSON.parse(e.data).text; });
  stream.addEventListener("line", function (e) { var d = JSON.parse(e.data); append("[" + d.stage + "] " + d.line); });
  stream.addEventListener("stage", function (e) { var d = JSON.parse(e.data); append("── " + d.stage + " " + d.state + " ──"); });
  stream.addEventListener("dropped", function (e) { append("… " + JSON.parse(e.data).lines + " lines dropped (this connection was too slow) …"); });
  stream.addEventListener("end", function (e) { var d = JSON.parse(e.data); stream.close(); if (source) source.textContent = d.text; if (d.reload !== false) setTimeout(function () { location.reload(); }, 2000); });
  stream.onerror = function () { if (stream.readyState === EventSource.CLOSED && source) source.textContent = "The live stream closed; reload the page to see the stored logs."; };
})();
`;
