// callops calls pages: the transcript follows the recording, the new-call modal, key/value rows.
// No inline scripts (the CSP forbids them); everything hangs off data attributes.
(function () {
  "use strict";

  // --- Transcript <-> player ------------------------------------------------------------------
  function turnsOf(audio) {
    var list = document.querySelector('.transcript[data-audio="' + audio.id + '"]');
    return list ? Array.prototype.slice.call(list.querySelectorAll(".turn[data-start]")) : [];
  }

  function currentTurn(turns, time) {
    var found = null;
    turns.forEach(function (turn) {
      var start = parseFloat(turn.dataset.start);
      var end = turn.dataset.end ? parseFloat(turn.dataset.end) : Infinity;
      if (time >= start && time < end) found = turn;
      // Between two turns, the last one started stays highlighted.
      if (!found && time >= start) found = turn;
    });
    return found;
  }

  function highlight(audio) {
    var turns = turnsOf(audio);
    var now = currentTurn(turns, audio.currentTime);
    turns.forEach(function (turn) {
      var on = turn === now;
      turn.classList.toggle("is-current", on);
      if (on) turn.setAttribute("aria-current", "true");
      else turn.removeAttribute("aria-current");
    });
  }

  function seek(turn) {
    var list = turn.closest(".transcript");
    var audio = list && document.getElementById(list.dataset.audio);
    if (!audio || !turn.dataset.start) return;
    audio.currentTime = parseFloat(turn.dataset.start);
    highlight(audio);
    var playing = audio.play();
    if (playing && playing.catch) playing.catch(function () { /* autoplay refused: seeking is enough */ });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".transcript .turn-time");
    if (button) {
      event.preventDefault();
      seek(button.closest(".turn"));
    }
  });

  ["timeupdate", "seeked", "play"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.target.matches && event.target.matches("audio.call-audio")) highlight(event.target);
    }, true);
  });

  // A recording the browser cannot load: ask callops once more for its reason (the vendor's
  // host failed, the vendor no longer has it...) and show that instead of a 0:00 player.
  document.addEventListener("error", function (event) {
    var audio = event.target;
    if (!audio.matches || !audio.matches("audio.call-audio")) return;
    var line = document.querySelector('[data-problem-for="' + audio.id + '"]');
    if (!line) return;
    fetch(audio.currentSrc || audio.src, { headers: { Range: "bytes=0-0" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) return "This browser cannot play the recording; use the download link.";
        return response.text().then(function (text) {
          return text.slice(0, 300) || "The recording could not be fetched (HTTP " + response.status + ").";
        });
      })
      .catch(function () { return "The recording could not be fetched from callops."; })
      .then(function (message) {
        line.textContent = message;
        line.hidden = false;
        audio.hidden = true;
      });
  }, true);

  // Elements matching `selector` in root, root included (htmx:load passes the new element).
  function each(root, selector, fn) {
    root = root || document;
    if (root.matches && root.matches(selector)) fn(root);
    if (root.querySelectorAll) root.querySelectorAll(selector).forEach(fn);
  }

  // --- New-call modal ---------------------------------------------------------------------------
  // The server sends <dialog open data-modal>: usable even without this script; with it, the
  // dialog becomes a real modal (focus trapped, Escape closes) and leaves the page when closed.
  function upgradeDialogs(root) {
    each(root, "dialog[data-modal]:not([data-upgraded])", function (dialog) {
      dialog.setAttribute("data-upgraded", "1");
      document.querySelectorAll("dialog[data-upgraded]").forEach(function (other) {
        if (other !== dialog) other.remove();
      });
      if (typeof dialog.showModal === "function") {
        dialog.removeAttribute("open");
        dialog.showModal();
      }
      dialog.addEventListener("close", function () { dialog.remove(); });
    });
  }

  // --- Key/value rows ---------------------------------------------------------------------------
  // One empty row is sent; "Add a row" submits the form for another without JavaScript, and
  // with it copies the last row in place.
  function hideNoJsButtons(root) {
    each(root, ".no-js-only", function (element) { element.hidden = true; });
  }

  var rowCounter = 1000;
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (!button) return;
    event.preventDefault();
    var rows = button.parentElement.querySelector('.kv-rows[data-kv="' + button.dataset.addRow + '"]');
    var last = rows && rows.querySelector(".kv-row:last-child");
    if (!last) return;
    var copy = last.cloneNode(true);
    rowCounter += 1;
    copy.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      if (input.name.slice(-6) === "_value") input.placeholder = "value";
      input.id = input.id.replace(/-\d+$/, "-" + rowCounter);
    });
    copy.querySelectorAll("label").forEach(function (label) {
      label.htmlFor = label.htmlFor.replace(/-\d+$/, "-" + rowCounter);
    });
    rows.appendChild(copy);
    copy.querySelector("input").focus();
  });

  function init(root) {
    upgradeDialogs(root);
    hideNoJsButtons(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
