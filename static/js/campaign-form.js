// The campaign form: after a refused save, bring the first field with a message into view and
// focus it, so the user sees what to change without hunting for it.
(function () {
  "use strict";

  function focusFirstError() {
    var form = document.querySelector("form[data-first-error]");
    if (!form) return;
    var field = form.querySelector(".has-error");
    if (!field) return;
    var control = field.querySelector("input:not([type=hidden]), select, textarea") || field;
    field.scrollIntoView({ block: "center" });
    if (control.focus) control.focus({ preventScroll: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstError);
  } else {
    focusFirstError();
  }
})();
