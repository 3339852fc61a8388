// The sync progress page's few lines of script. Every update arrives over the
// websocket as htmx out-of-band fragments; this only
//  - drops a message older than what the page shows (fragments carry the run's data-run and data-seq),
//  - counts "N s ago" on between updates (data-age is the age in seconds when rendered),
//  - says when the connection is lost, and asks for a fresh snapshot when the tab comes back.
// It never decides what state a sync is in: the server does.
(function () {
  "use strict";

  function marks(root) {
    var el = root && root.querySelector("[data-seq]");
    return el ? { run: Number(el.dataset.run), seq: Number(el.dataset.seq) } : null;
  }

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var template = document.createElement("template");
    template.innerHTML = evt.detail.message;
    var incoming = marks(template.content);
    var shown = marks(document.getElementById("sync-live"));
    if (!incoming || !shown) return;
    if (incoming.run < shown.run || (incoming.run === shown.run && incoming.seq < shown.seq)) {
      evt.preventDefault();
    }
  });

  // Reconnect soon after daphne restarts or the network returns, with jitter
  // so a restart does not bring every page back in the same instant.
  if (window.htmx) {
    htmx.config.wsReconnectDelay = function (retries) {
      return Math.random() * Math.min(4000, 500 * Math.pow(2, retries));
    };
  }

  var socket = null;

  function say(text) {
    var el = document.getElementById("sync-connection");
    if (el) el.textContent = text;
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    say("");
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event.code;
    if (code === 4401) {
      say("Your session has ended: log in again to follow this sync.");
    } else if (code === 4403) {
      say("This sync belongs to a team you are not a member of.");
    } else if (code !== 1000 && code !== 1005) {
      say("Connection lost; reconnecting…");
    }
  });

  // A laptop waking up may hold a socket that is dead without knowing it;
  // asking for a snapshot either refreshes the page or reveals the loss.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && socket) {
      socket.send(JSON.stringify({ type: "snapshot" }));
    }
  });

  function ageText(seconds) {
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    return Math.floor(seconds / 3600) + " h ago";
  }

  // Counted from when this page received the element, not from the browser's
  // clock against the server's: the two clocks may disagree.
  setInterval(function () {
    var now = Date.now();
    document.querySelectorAll("[data-age]").forEach(function (el) {
      if (!el.dataset.receivedAt) el.dataset.receivedAt = String(now);
      var age = Number(el.dataset.age) + Math.floor((now - Number(el.dataset.receivedAt)) / 1000);
      el.textContent = ageText(age);
    });
  }, 1000);
})();
