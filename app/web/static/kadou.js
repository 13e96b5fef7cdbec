// Kadou pages: partial refresh of the overview. No build step, no dependencies.
// The server renders everything; this only re-fetches the live fragment and swaps it in,
// so the page also works (without refresh) when scripts are off.
(function () {
  "use strict";
  var live = document.getElementById("overview-live");
  if (!live) return;
  var seconds = parseInt(live.getAttribute("data-refresh-seconds") || "15", 10);
  if (!(seconds > 0)) return;
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(window.location.href, {
      headers: { "X-Kadou-Partial": "1" },
      credentials: "same-origin",
      redirect: "manual",
      cache: "no-store",
    })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
          // Signed out meanwhile: a full load shows the sign-in page.
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;
          live.setAttribute("data-refreshed-at", String(Date.now()));
        }
      })
      .catch(function () { /* keep the last view; the next round tries again */ })
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
