// callops review queue: keyboard shortcuts (j/k next/previous, r mark reviewed and save, 1-5 rate).
// Every shortcut has a link or form control that does the same without JavaScript.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    var field = target.closest("input, textarea, select");
    // Radio buttons and checkboxes take no text: the shortcuts still work from them.
    return !!field && !(field.type === "radio" || field.type === "checkbox");
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link) window.location.assign(link.href);
  }

  document.addEventListener("keydown", function (event) {
    var form = document.getElementById("review-form");
    if (!form || event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    // Inside the scorecard, keys belong to its own radio groups (arrows, space, Tab).
    if (event.target.closest && event.target.closest("[data-scorecard]")) return;
    var key = event.key;
    if (key === "j") {
      event.preventDefault();
      follow("a[data-review-next]");
    } else if (key === "k") {
      event.preventDefault();
      follow("a[data-review-previous]");
    } else if (key === "r") {
      event.preventDefault();
      var reviewed = document.getElementById("review-reviewed");
      if (reviewed) reviewed.checked = true;
      if (form.dataset.sending) return;
      form.dataset.sending = "1";
      if (form.requestSubmit) form.requestSubmit();
      else form.submit();
    } else if (/^[1-5]$/.test(key)) {
      var radio = form.querySelector('input[name="rating"][value="' + key + '"]');
      if (radio) {
        event.preventDefault();
        radio.checked = true;
        radio.focus();
      }
    }
  });
})();
