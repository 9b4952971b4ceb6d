// callops settings pages: copy buttons and the vendor form's base-URL choices.
// Loaded as a file (the CSP allows no inline script); every page works without it.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Older browsers or plain-HTTP hosts: select a hidden textarea and copy it.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "copy-buffer";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      area.remove();
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var label = button.textContent;
    copyText(source.textContent.trim()).then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Select and copy by hand"; }
    );
    setTimeout(function () { button.textContent = label; }, 2000);
  });

  // Vendor form: offer only the documented URLs of the chosen vendor, and the custom field only
  // when "Custom" is chosen.
  function syncVendorForm(form) {
    var kind = form.querySelector("select[name=kind]");
    var choice = form.querySelector("select[name=base_url_choice]");
    var custom = form.querySelector("#field-custom_base_url");
    if (!kind || !choice) return;
    var kindLabel = kind.options[kind.selectedIndex].text;
    choice.querySelectorAll("optgroup").forEach(function (group) {
      var matches = group.label === kindLabel;
      group.hidden = !matches;
      group.disabled = !matches;
      if (!matches && group.contains(choice.options[choice.selectedIndex])) {
        choice.value = "custom";
      }
    });
    if (custom) custom.hidden = choice.value !== "custom";
  }

  function armVendorForms() {
    document.querySelectorAll("form[data-vendor-form]").forEach(function (form) {
      syncVendorForm(form);
      form.addEventListener("change", function () { syncVendorForm(form); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", armVendorForms);
  } else {
    armVendorForms();
  }
})();
