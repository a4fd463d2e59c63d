// Live job progress: every active job on the page polls its state (JSON) once a second and
// updates its phase, progress bar and note; a job page that finishes with one product opens it.
(function () {
  "use strict";
  function follow(holder) {
    const url = holder.dataset.stateUrl;
    const onJobPage = holder.id === "job";
    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (!state) return;
          const phase = holder.querySelector("[data-role=phase]");
          const bar = holder.querySelector("[data-role=progress]");
          const note = holder.querySelector("[data-role=note]");
          const duration = holder.querySelector("[data-role=duration]");
          if (phase) {
            phase.textContent = state.phase_words;
            phase.className = "phase phase-" + state.phase.toLowerCase();
          }
          if (bar && state.fraction !== null) {
            bar.value = state.fraction;
            bar.textContent = Math.round(state.fraction * 100) + " %";
          }
          if (note) note.textContent = state.note;
          if (duration) duration.textContent = state.duration;
          if (state.active) {
            setTimeout(tick, 1000);
          } else if (onJobPage && state.phase === "COMPLETED" && state.products.length === 1) {
            window.location.assign(state.products[0]);
          } else {
            window.location.reload();  // the finished job's products, error or buttons
          }
        })
        .catch(function () { setTimeout(tick, 3000); });
    }
    setTimeout(tick, 500);
  }
  document.querySelectorAll("[data-active='1'][data-state-url]").forEach(follow);
})();
