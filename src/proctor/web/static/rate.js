// Ratings, preferences and run control: the preferences panel of a taken step (compare two options, add an
// alternative) is fetched when it is opened, and again when the run page swaps in a new tree with it open.
"use strict";

(function () {
  async function load(details) {
    const slot = details.querySelector(".prefs-body");
    if (!slot || slot.dataset.loaded === "1") return;
    slot.dataset.loaded = "1";
    try {
      const response = await fetch(details.dataset.prefs, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) throw new Error("could not load (" + response.status + ")");
      slot.innerHTML = await response.text();  // our own template's output: every value in it is escaped
    } catch (failure) {
      slot.dataset.loaded = "";
      slot.textContent = failure.message;
    }
  }

  // `toggle` does not bubble: listen while it goes down. It fires too when the page reopens a panel after a swap.
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (details instanceof HTMLDetailsElement && details.open && details.hasAttribute("data-prefs")) load(details);
  }, true);
})();
