// Live progress of a judge run: poll GET /api/judge-runs/{id}/ every 2 s while the run is active.
(function () {
  "use strict";
  const section = document.getElementById("run-progress");
  if (!section || section.dataset.active !== "true") return;
  const url = section.dataset.url;
  const set = (field, text) => {
    const el = section.querySelector(`[data-field="${field}"]`);
    if (el) el.textContent = text;
  };
  const render = (run) => {
    const p = run.progress;
    for (const key of ["finished", "total", "done", "failed", "unparsed"]) set(key, p[key]);
    set("cost_usd", Number(run.cost_usd).toFixed(4));
    set("calls_per_minute", Math.round(run.calls_per_minute));
    const bar = document.getElementById("run-bar");
    bar.max = p.total || 1;
    bar.value = p.finished;
    document.getElementById("run-status").textContent = run.status;
    const error = document.getElementById("run-error");
    error.textContent = run.error;
    error.hidden = !run.error;
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.hidden = !run.active;
    const resume = document.getElementById("resume-form");
    if (resume) resume.hidden = !run.resumable;
    return run.active;
  };
  const poll = async () => {
    let active = true;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        active = render(await response.json());
      }
    } catch (err) {
      // A dropped request is retried on the next tick; the page keeps its last figures.
    }
    if (active) {
      window.setTimeout(poll, 2000);
    } else {
      // The verdict table is rendered by the server: reload once to show the final verdicts.
      window.location.reload();
    }
  };
  window.setTimeout(poll, 2000);
})();
