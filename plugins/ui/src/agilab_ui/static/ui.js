// Live runs: each element with data-progress polls that JSON URL (the run's journal, read by the server)
// once a second and updates its [data-field] children; data-reload reloads the page when the run ends.
(function () {
  "use strict";
  var live = Array.prototype.slice.call(document.querySelectorAll("[data-progress]"));
  if (!live.length) return;

  function show(element, progress) {
    element.querySelectorAll("[data-field]").forEach(function (field) {
      var value = progress[field.getAttribute("data-field")];
      if (value !== undefined && value !== null) field.textContent = String(value);
    });
    var bar = element.querySelector("progress");
    if (bar) { bar.max = progress.total || 1; bar.value = progress.ok + progress.failed; }
  }

  function poll() {
    var waiting = live.filter(function (element) { return !element.hasAttribute("data-done"); });
    if (!waiting.length) return;
    Promise.all(waiting.map(function (element) {
      return fetch(element.getAttribute("data-progress"), { cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (progress) {
          if (!progress) return;
          show(element, progress);
          if (progress.done) {
            element.setAttribute("data-done", "");
            if (element.hasAttribute("data-reload")) window.location.reload();
          }
        })
        .catch(function () { /* the server may be restarting: try again next tick */ });
    })).then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
})();
