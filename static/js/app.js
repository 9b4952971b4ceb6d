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
