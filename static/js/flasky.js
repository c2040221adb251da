// Flasky's own few lines: relative times, toasts, the composer, inline confirms, cards
// that open their post, keyboard shortcuts, and what to say when the network fails.
// Everything here improves a page that already works without it.
(function () {
  "use strict";

  // -- relative times --------------------------------------------------------------------

  const units = [
    ["year", 31536000], ["month", 2592000], ["week", 604800],
    ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

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
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      // a post page's full date stays a date; every other time reads "3 hours ago"
      el.textContent = el.hasAttribute("data-exact") ? full.format(date) : relative(date);
      el.title = exact.format(date);
    });
  }

  // -- toasts: one at a time, bottom centre, never pushing the page -----------------------

  const TOAST_SECONDS = 6;

  function region() {
    return document.getElementById("flashes");
  }

  // Each toast leaves by itself after a few seconds (longer when it offers an action);
  // hovering or focusing it holds it.
  function arm(toast) {
    if (toast.dataset.armed) return;
    toast.dataset.armed = "1";
    const seconds = toast.querySelector("button") ? TOAST_SECONDS + 4 : TOAST_SECONDS;
    let timer = null;
    const leave = function () {
      toast.classList.add("is-leaving");
      setTimeout(function () { toast.remove(); }, 300);
    };
    const start = function () { timer = setTimeout(leave, seconds * 1000); };
    const hold = function () { clearTimeout(timer); };
    toast.addEventListener("mouseenter", hold);
    toast.addEventListener("focusin", hold);
    toast.addEventListener("mouseleave", start);
    toast.addEventListener("focusout", start);
    start();
  }

  function armAll() {
    const box = region();
    if (!box) return;
    // a region swapped in out of band replaced the old toasts: keep only the newest
    const toasts = box.querySelectorAll(".flash");
    toasts.forEach(function (t, i) { if (i < toasts.length - 1) t.remove(); });
    box.querySelectorAll(".flash").forEach(arm);
  }

  function toast(text, kind, action) {
    const box = region();
    if (!box) return;
    box.replaceChildren();
    const p = document.createElement("p");
    p.className = "flash flash-" + (kind || "success");
    const span = document.createElement("span");
    span.className = "flash-text";
    span.textContent = text;
    p.appendChild(span);
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link-button toast-action";
      button.textContent = action.label;
      button.addEventListener("click", function () { p.remove(); action.run(); });
      p.append(" ", button);
    }
    box.appendChild(p);
    arm(p);
  }

  // -- the composer: grows with its text, counts near the limit, no empty posts ----------

  const COUNT_FROM = 200;

  function updateEditor(textarea) {
    const form = textarea.form;
    if (!form) return;
    const limit = parseInt(textarea.dataset.limit || "0", 10);
    const left = limit - textarea.value.length;
    const counter = form.querySelector(".counter");
    if (counter) {
      counter.textContent = limit && left <= COUNT_FROM ? String(left) : "";
      counter.classList.toggle("is-over", left < 0);
      counter.title = left < 0 ? (-left) + " characters over the limit" : left + " characters left";
    }
    const empty = textarea.value.trim() === "";
    form.classList.toggle("has-text", !empty);
    form.querySelectorAll("[data-needs-text]").forEach(function (button) {
      button.disabled = empty || (limit > 0 && left < 0);
    });
  }

  function setUpEditors(root) {
    root.querySelectorAll("textarea[data-limit]").forEach(updateEditor);
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-limit]")) {
      updateEditor(event.target);
    }
  });

  // A form marked data-reset-on-success empties itself after a successful htmx post.
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.target.closest && event.target.closest("form[data-reset-on-success]");
    if (form && event.detail.successful && event.detail.elt === form) {
      form.reset();
      form.querySelectorAll("[data-clear-on-reset]").forEach(function (el) { el.innerHTML = ""; });
      setUpEditors(form);
    }
  });

  // -- htmx answers ------------------------------------------------------------------------

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

  function waitText(xhr) {
    const seconds = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
    if (!seconds) return "a little";
    if (seconds < 60) return seconds + (seconds === 1 ? " second" : " seconds");
    const minutes = Math.ceil(seconds / 60);
    return minutes + (minutes === 1 ? " minute" : " minutes");
  }

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const status = xhr.status;
    toast(serverMessage(xhr) || (status === 429 ? "Too many attempts. Please wait " + waitText(xhr) + "."
      : status === 403 ? "You do not have permission to do that."
      : status >= 500 ? "Something went wrong. Please try again."
      : "That did not work (" + status + ")."), "error");
  });

  // The network failed or timed out: say so, keep what was typed (htmx only resets a
  // form that succeeded), and offer to send the same request again.
  function retryOf(detail) {
    const elt = detail.elt;
    const config = detail.requestConfig || {};
    if (elt && elt.tagName === "FORM") return function () { elt.requestSubmit(); };
    if (elt && config.verb && config.path) {
      return function () { htmx.ajax(config.verb.toUpperCase(), config.path, { source: elt }); };
    }
    return function () { location.reload(); };
  }

  function networkTrouble(event) {
    const config = event.detail.requestConfig || {};
    const reading = (config.verb || "get").toLowerCase() === "get";
    toast(reading ? "Could not load — check your connection." : "Not sent — check your connection.",
      "error", { label: "Retry", run: retryOf(event.detail) });
  }
  document.addEventListener("htmx:sendError", networkTrouble);
  document.addEventListener("htmx:timeout", networkTrouble);

  // -- follow: the pointer that clicked does not see "Unfollow" until it leaves ----------

  let clickedFollow = null; // the id of the follow form a pointer (not a key) just sent

  document.addEventListener("click", function (event) {
    const form = event.target.closest && event.target.closest(".follow-form");
    clickedFollow = form && event.detail > 0 ? form.id : null;
  }, true);

  function followButtonsIn(root) {
    if (!clickedFollow || !root.matches || !root.matches(".follow-form")) return;
    if (root.id !== clickedFollow) return;
    clickedFollow = null;
    const button = root.querySelector(".follow-button");
    if (!button) return;
    button.classList.add("just-clicked");
    const away = function (event) {
      if (button.contains(event.target)) return;
      button.classList.remove("just-clicked");
      document.removeEventListener("pointermove", away);
    };
    document.addEventListener("pointermove", away);
  }

  // -- inline confirm (Delete): "Delete this post? Delete · Cancel" ----------------------

  document.addEventListener("click", function (event) {
    const opener = event.target.closest && event.target.closest("[data-inline-confirm]");
    if (opener) {
      const form = document.getElementById(opener.dataset.inlineConfirm);
      if (!form) return;
      event.preventDefault();
      event.stopPropagation(); // before htmx's boost sees the link
      opener.hidden = true;
      form.hidden = false;
      const go = form.querySelector("button[type=submit]");
      if (go) go.focus();
      return;
    }
    const cancel = event.target.closest && event.target.closest("form.inline-confirm [data-cancel]");
    if (cancel) closeConfirm(cancel.form);
  }, true);

  function closeConfirm(form) {
    form.hidden = true;
    const opener = document.querySelector('[data-inline-confirm="' + form.id + '"]');
    if (opener) { opener.hidden = false; opener.focus(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const form = event.target.closest && event.target.closest("form.inline-confirm");
    if (form) closeConfirm(form);
  });

  // -- cards open their post ---------------------------------------------------------------

  const INTERACTIVE = "a, button, form, input, textarea, select, label, summary, [hx-get], [hx-post]";

  function openCard(card, newTab) {
    const link = card.querySelector("a.permalink");
    if (!link) return;
    if (newTab) { window.open(link.href, "_blank", "noopener"); return; }
    link.click(); // a boosted navigation, like clicking the time
  }

  function cardClick(event) {
    if (event.button !== 0 && event.button !== 1) return;
    const card = event.target.closest && event.target.closest("li[data-card]");
    if (!card || event.target.closest(INTERACTIVE)) return;
    if (String(window.getSelection() || "").length) return; // selecting text, not opening
    openCard(card, event.ctrlKey || event.metaKey || event.button === 1);
  }
  document.addEventListener("click", cardClick);
  document.addEventListener("auxclick", cardClick); // the middle button

  // "← Back" returns to the page it came from on this site, else goes home.
  document.addEventListener("click", function (event) {
    const back = event.target.closest && event.target.closest("a[data-back]");
    if (!back) return;
    // htmx's boosted navigations leave {htmx: true} in the history entry they push
    const boosted = history.state && history.state.htmx;
    const fromHere = document.referrer.indexOf(location.origin + "/") === 0;
    if (history.length > 1 && (boosted || fromHere)) {
      event.preventDefault();
      event.stopPropagation();
      history.back();
    }
  }, true);

  // -- keyboard shortcuts: j/k posts, n new post, ? the list ------------------------------

  const POSTS = "#feed > li.post, #posts > li.post"; // the home feed, a user's lists

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable], dialog");
  }

  function moveCard(step) {
    const cards = Array.from(document.querySelectorAll(POSTS));
    if (!cards.length) return;
    const current = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest(POSTS) : null;
    let index = current ? cards.indexOf(current) + step : (step > 0 ? 0 : cards.length - 1);
    index = Math.max(0, Math.min(cards.length - 1, index));
    const card = cards[index];
    card.tabIndex = -1;
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function compose() {
    const field = document.getElementById("post-form-body");
    if (!field) { location.href = "/#post-form"; return; }
    field.focus();
    field.scrollIntoView({ block: "center" });
  }

  function showShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  // "/": the header's search box (on phones, where it is hidden, the search page)
  function focusSearch() {
    const page = document.getElementById("search-page-q");
    const header = document.getElementById("site-search-q");
    const field = page || (header && header.offsetParent !== null ? header : null);
    if (!field) { location.href = "/search"; return; }
    field.focus();
    field.select();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (typing(event.target)) return;
    const card = event.target.closest && event.target.closest(POSTS);
    if (event.key === "Enter" && card && event.target === card) { openCard(card, false); return; }
    const actions = { j: function () { moveCard(1); }, k: function () { moveCard(-1); },
      n: compose, "?": showShortcuts, "/": focusSearch };
    const run = actions[event.key];
    if (run) { event.preventDefault(); run(); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts]")) showShortcuts();
  });

  // The bottom bar's compose button: straight to the post form when it is on the page.
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("a[data-compose]");
    if (!button || !document.getElementById("post-form-body")) return;
    event.preventDefault();
    event.stopPropagation();
    compose();
  }, true);

  // -- active search (SPEC §11): the list under the header's box --------------------------
  // htmx fetches it while typing (300 ms after the last key); here: it opens when it has
  // something to show, ArrowDown/ArrowUp walk its links (and back to the box), Enter
  // opens the focused one (a link), Escape or leaving the box closes it.

  function suggestParts() {
    const form = document.querySelector("form[data-site-search]");
    const list = document.getElementById("search-suggest");
    return form && list ? { form: form, input: form.querySelector("input[name=q]"), list: list } : null;
  }

  function showSuggest(parts, open) {
    parts.list.hidden = !open;
    parts.input.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function hasSuggestions(parts) {
    return parts.input.value.trim() !== "" && parts.list.querySelector("a.suggest-item") !== null;
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    const parts = suggestParts();
    if (!parts || event.detail.target !== parts.list) return;
    showSuggest(parts, hasSuggestions(parts) && parts.form.contains(document.activeElement));
  });

  document.addEventListener("keydown", function (event) {
    const parts = suggestParts();
    if (!parts || !event.target.closest || !parts.form.contains(event.target)) return;
    if (event.key === "Escape") {
      if (parts.list.hidden) return;
      event.preventDefault();
      // back to the box first: its focusin would open the list again after closing it
      parts.input.focus();
      showSuggest(parts, false);
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    if (parts.list.hidden) {
      if (event.key === "ArrowDown" && hasSuggestions(parts)) { event.preventDefault(); showSuggest(parts, true); }
      return;
    }
    const items = Array.from(parts.list.querySelectorAll("a.suggest-item"));
    if (!items.length) return;
    event.preventDefault();
    const at = items.indexOf(document.activeElement);
    const next = event.key === "ArrowDown" ? Math.min(items.length - 1, at + 1) : at - 1;
    if (next < 0) parts.input.focus(); else items[next].focus();
  });

  document.addEventListener("focusin", function (event) {
    const parts = suggestParts();
    if (!parts) return;
    if (!parts.form.contains(event.target)) showSuggest(parts, false);
    else if (event.target === parts.input && hasSuggestions(parts)) showSuggest(parts, true);
  });

  document.addEventListener("click", function (event) {
    const parts = suggestParts();
    if (parts && !parts.list.hidden && !parts.form.contains(event.target)) showSuggest(parts, false);
  });

  // -- live updates (SPEC §9): the page's stream is #live; fragments place themselves ------

  // A fresh EventSource (htmx-ext-sse's after an error answer) sends no Last-Event-ID:
  // the stream URL carries the last id seen instead, so nothing is lost across an outage.
  document.addEventListener("htmx:sseMessage", function (event) {
    const live = document.getElementById("live");
    const message = event.detail;
    if (live && message && message.lastEventId) {
      const url = new URL(live.getAttribute("sse-connect"), location.href);
      url.searchParams.set("after", message.lastEventId);
      live.setAttribute("sse-connect", url.pathname + url.search);
    }
    if (message && message.type === "session-ended") {
      // signed out elsewhere: show the page as it is now — unless this tab is already
      // on its way (its own Log out), which replaces the stream's element
      setTimeout(function () { if (live && live.isConnected) location.reload(); }, 1000);
    }
    updateNewPosts();
  });

  // A stream that ends by itself (its time is up, a server restart) is the browser's to
  // reconnect, with Last-Event-ID: that is not an error. Only a refused stream (429,
  // 503, 401) reaches htmx-ext-sse, which opens a new one after a pause.
  if (window.htmx && window.EventSource) {
    htmx.createEventSource = function (url) {
      const source = new EventSource(url, { withCredentials: true });
      let handler = null;
      Object.defineProperty(source, "onerror", {
        get: function () { return handler; },
        set: function (fn) { handler = fn; },
      });
      source.addEventListener("error", function (event) {
        if (source.readyState !== EventSource.CLOSED || !handler) return;
        handler(event);
      });
      return source;
    };
  }

  const LIVE_LISTS = ["incoming", "comments", "moderation-queue"];

  // Something created arrives once: not when the page already shows it (a replay, or
  // the writer's own card); not into a filtered queue it does not belong in.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    const target = event.detail.target;
    if (!target || LIVE_LISTS.indexOf(target.id) < 0) return;
    const item = event.detail.fragment && event.detail.fragment.firstElementChild;
    const shown = item && item.id && document.getElementById(item.id);
    if (shown || target.dataset.show === "disabled") {
      event.detail.shouldSwap = false;
      return;
    }
    target.querySelectorAll(":scope > li.empty").forEach(function (el) { el.remove(); });
  });

  // New posts wait in #incoming until the reader asks for them: the page never moves
  // under someone reading it.
  function updateNewPosts() {
    const incoming = document.getElementById("incoming");
    const button = document.querySelector("[data-new-posts]");
    if (!incoming || !button) return;
    const list = document.querySelector(button.dataset.newPosts);
    Array.from(incoming.children).forEach(function (item) {
      if (list && item.id && list.querySelector("#" + CSS.escape(item.id))) item.remove();
    });
    const count = incoming.children.length;
    button.textContent = count === 1 ? "1 new post" : count + " new posts";
    button.parentElement.hidden = count === 0;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-new-posts]");
    if (!button) return;
    const incoming = document.getElementById("incoming");
    const list = document.querySelector(button.dataset.newPosts);
    if (!incoming || !list) return;
    list.querySelectorAll(":scope > li.empty").forEach(function (el) { el.remove(); });
    const first = incoming.firstElementChild;
    list.prepend(...Array.from(incoming.children));
    button.parentElement.hidden = true;
    if (first) {
      first.setAttribute("tabindex", "-1");
      first.focus({ preventScroll: true });
      first.scrollIntoView({ block: "nearest" });
    }
  });
  document.addEventListener("htmx:oobAfterSwap", updateNewPosts);

  // The writer's own new comment can arrive twice: by its event (heard before the
  // answer) and in the answer. A live list shows each item once.
  function dropRepeats() {
    ["feed", "posts", "comments", "moderation-queue"].forEach(function (id) {
      const list = document.getElementById(id);
      if (!list) return;
      const seen = new Set();
      list.querySelectorAll(":scope > li[id]").forEach(function (item) {
        if (seen.has(item.id)) item.remove();
        else seen.add(item.id);
      });
    });
  }

  // -- set up every piece of page htmx adds ------------------------------------------------

  function setUp(root) {
    renderTimes(root);
    setUpEditors(root);
    followButtonsIn(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUp(document);
    armAll();
    if (location.hash === "#post-form" && document.getElementById("post-form-body")) compose();
  });
  document.addEventListener("htmx:load", function (event) { setUp(event.target); });
  // after every swap, out-of-band toasts included
  document.addEventListener("htmx:afterSettle", armAll);
  // in the same task as the swap that made the repeat: no one ever sees two
  document.addEventListener("htmx:afterSwap", function () { dropRepeats(); updateNewPosts(); });
  setInterval(function () { renderTimes(document); }, 60000);
})();
