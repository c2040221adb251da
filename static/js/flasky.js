// Flasky's own few lines: relative times, flash fading, form reset after htmx posts.
(function () {
  "use strict";
  const units = [
    ["year", 31536000], ["month", 2592000], ["week", 604800],
    ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    if (Math.abs(seconds) < 45) return "just now";
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") {
        return rtf.format(Math.round(seconds / size), unit);
      }
    }
    return "";
  }

  function renderTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = relative(date);
      el.title = exact.format(date);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { renderTimes(document); });
  document.addEventListener("htmx:load", function (event) { renderTimes(event.target); });
  setInterval(function () { renderTimes(document); }, 60000);

  // A form marked data-reset-on-success empties itself after a successful htmx post.
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.target.closest && event.target.closest("form[data-reset-on-success]");
    if (form && event.detail.successful && event.detail.elt === form) {
      form.reset();
      form.querySelectorAll("[data-clear-on-reset]").forEach(function (el) { el.innerHTML = ""; });
    }
  });

  // htmx swaps only HTML: a JSON answer (or any other type) never becomes part of the
  // page, whatever link or form asked for it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const type = event.detail.xhr.getResponseHeader("Content-Type") || "";
    if (!/^text\/html(;|$)/i.test(type.trim())) {
      event.detail.shouldSwap = false;
    }
  });

  // Signed-in pages are never kept in htmx's history cache (hx-history="false"); on
  // logout, anything an older version kept goes too.
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("form[data-logout]")) {
      try { localStorage.removeItem("htmx-history-cache"); } catch (e) { /* private mode */ }
    }
  }, true);

  // Errors htmx does not swap (4xx/5xx other than 422) still tell the person something:
  // the server's own message when the answer carries one (a 429 says how long to wait).
  function serverMessage(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    try {
      if (/json/i.test(type)) return JSON.parse(xhr.responseText).message || "";
      if (/^text\/html/i.test(type)) {
        const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const el = doc.querySelector(".error-message");
        return el ? el.textContent.trim() : "";
      }
    } catch (e) { /* not what we expected: fall back below */ }
    return "";
  }

  document.addEventListener("htmx:responseError", function (event) {
    const box = document.getElementById("flashes");
    if (!box) return;
    const p = document.createElement("p");
    p.className = "flash flash-error";
    const xhr = event.detail.xhr;
    const status = xhr.status;
    p.textContent = serverMessage(xhr) || (status === 429 ? "Too many attempts. Please wait a little."
      : status === 403 ? "You do not have permission to do that."
      : status >= 500 ? "Something went wrong. Please try again."
      : "That did not work (" + status + ").");
    box.appendChild(p);
  });
})();
