// Keyboard flow of the labeling page: digits pick a scale point of the focused question,
// T picks the tie, ArrowLeft / ArrowRight move the focused question's choice one point along its
// scale (from a tie or no choice they start at the middle), Tab / ArrowDown / ArrowUp move between
// questions, Enter submits once every question has a value (otherwise the missing ones are
// marked), S skips.
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  if (!form) return;
  const skipForm = document.getElementById("skip-form");
  const note = document.getElementById("missing-note");
  const criteria = Array.from(form.querySelectorAll("fieldset.criterion"));

  function current() {
    return document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("fieldset.criterion")
      : null;
  }

  function focusAt(index) {
    const target = criteria[Math.max(0, Math.min(criteria.length - 1, index))];
    if (target) target.focus();
  }

  function pick(fieldset, value) {
    const input = fieldset.querySelector('input[type=radio][value="' + value + '"]');
    if (!input) return false;
    input.checked = true;
    fieldset.classList.remove("missing");
    const next = criteria.indexOf(fieldset) + 1;
    if (next < criteria.length) focusAt(next);
    return true;
  }

  // The numbered points of the question's scale, left to right (the tie choice is not one).
  function points(fieldset) {
    return Array.from(fieldset.querySelectorAll(".points input[type=radio]"));
  }

  // Moves the choice one point left (-1) or right (+1) and keeps focus on the question, so the
  // labeler can keep adjusting. A tie, or no choice yet, counts as the middle of the scale: on
  // 1..8 the first step lands on 4 or 5, on 1..5 on 2 or 4.
  function step(fieldset, direction) {
    const scale = points(fieldset);
    if (!scale.length) return false;
    const checked = scale.findIndex((input) => input.checked);
    const position = checked >= 0 ? checked : (scale.length - 1) / 2;
    const target = direction < 0 ? Math.ceil(position) - 1 : Math.floor(position) + 1;
    const input = scale[Math.max(0, Math.min(scale.length - 1, target))];
    input.checked = true;
    fieldset.classList.remove("missing");
    return true;
  }

  function missing() {
    return criteria.filter((f) => !f.querySelector("input[type=radio]:checked"));
  }

  function submitIfComplete() {
    const empty = missing();
    criteria.forEach((f) => f.classList.toggle("missing", empty.includes(f)));
    if (empty.length) {
      const names = empty.map((f) => f.querySelector("legend").textContent.trim());
      note.textContent = "Still to answer: " + names.join(" · ");
      note.hidden = false;
      empty[0].focus();
      return;
    }
    note.hidden = true;
    form.submit();
  }

  // A click on a point moves keyboard focus back to its question, so the keys keep working.
  criteria.forEach((fieldset) => {
    fieldset.addEventListener("change", () => {
      fieldset.classList.remove("missing");
      fieldset.focus();
    });
  });

  form.addEventListener("submit", (event) => {
    if (missing().length) {
      event.preventDefault();
      submitIfComplete();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) {
      // Ctrl+Enter submits from anywhere, including the rationale box.
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submitIfComplete();
      }
      return;
    }
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "input" && event.target.type !== "radio" || tag === "select") {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const fieldset = current();
    const key = event.key;
    if (/^[0-9]$/.test(key) && fieldset) {
      if (pick(fieldset, key === "0" ? "10" : key)) event.preventDefault();
    } else if ((key === "t" || key === "T") && fieldset) {
      if (pick(fieldset, "tie") || pick(fieldset, fieldset.dataset.middle)) event.preventDefault();
    } else if ((key === "ArrowLeft" || key === "ArrowRight") && fieldset) {
      if (step(fieldset, key === "ArrowLeft" ? -1 : 1)) event.preventDefault();
    } else if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      const index = fieldset ? criteria.indexOf(fieldset) : -1;
      focusAt(key === "ArrowDown" ? index + 1 : index - 1);
    } else if (key === "Enter") {
      if (tag === "button" || tag === "a") return;
      event.preventDefault();
      submitIfComplete();
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      skipForm.submit();
    }
  });

  focusAt(0);
})();
