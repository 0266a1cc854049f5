// Progress of an upload on the import page. The form is submitted as usual (the browser shows
// the result page when the import ends); meanwhile this polls what the running import reports,
// under an id chosen here and sent with the form.
(function () {
  "use strict";
  const form = document.getElementById("import-form");
  const box = document.getElementById("import-progress");
  if (!form || !box) return;
  const bar = box.querySelector("progress");
  const label = box.querySelector("[data-label]");

  function newId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function show(state) {
    label.textContent = state.label;
    if (state.total) {
      bar.max = state.total;
      bar.value = state.done;
    } else {
      bar.removeAttribute("value"); // an indeterminate bar: no total to measure against
    }
  }

  form.addEventListener("submit", function () {
    const id = newId();
    form.elements.upload_id.value = id;
    box.hidden = false;
    const url = form.dataset.progressUrl + "?progress=" + id;
    async function poll() {
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        if (response.ok) show(await response.json());
      } catch (error) {
        // The result page is replacing this one; nothing left to show.
      }
      window.setTimeout(poll, 700);
    }
    window.setTimeout(poll, 300);
  });
})();
