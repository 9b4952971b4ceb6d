// callops: small behaviours on top of htmx. No inline scripts (the CSP forbids them).
(function () {
  "use strict";

  // Toasts leave by themselves after a few seconds; a click dismisses one at once.
  function dismissLater(toast) {
    if (toast.dataset.timer) return;
    toast.dataset.timer = "1";
    setTimeout(function () {
      toast.classList.add("leaving");
      setTimeout(function () { toast.remove(); }, 350);
    }, 6000);
  }

  function armToasts(root) {
    (root || document).querySelectorAll(".toast").forEach(dismissLater);
  }

  document.addEventListener("click", function (event) {
    var toast = event.target.closest(".toast");
    if (toast) toast.remove();
  });
  document.addEventListener("DOMContentLoaded", function () { armToasts(document); });
  document.addEventListener("htmx:afterSettle", function () { armToasts(document); });
})();

// A "tick all" box ticks every box of its name in the same form (contacts to push).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) return;
    var form = all.closest("form");
    if (!form) return;
    form.querySelectorAll('input[type="checkbox"][name="' + all.dataset.selectAll + '"]').forEach(
      function (box) { box.checked = all.checked; }
    );
  });
})();
