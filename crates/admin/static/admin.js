// Small conveniences only; every form works without script.
document.documentElement.classList.add("js");
// Phones: the menu button folds the sidebar away and opens it again.
(function () {
  var toggle = document.getElementById("nav-toggle");
  var nav = document.getElementById("side-nav");
  if (!toggle || !nav) return;
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
})();
// A table that scrolls sideways (phones) takes the keyboard focus, so it can be scrolled
// without a mouse; one that fits does not add a tab stop.
function markScrollingTables() {
  document.querySelectorAll("main table").forEach(function (t) {
    if (t.scrollWidth > t.clientWidth + 1) t.setAttribute("tabindex", "0");
    else t.removeAttribute("tabindex");
  });
}
markScrollingTables();
window.addEventListener("resize", markScrollingTables);
document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
  el.addEventListener("change", function () { el.form.submit(); });
  var button = el.form.querySelector("button.js-hide");
  if (button) button.hidden = true;
});
// Authenticated SMTP: while "follow the organisation" is ticked, the mailbox box shows the
// organisation's value and cannot be changed. Unticking it gives the box back the mailbox's own
// choice: leaving the organisation's value there would make Save silently store it as the
// mailbox's setting.
document.querySelectorAll("input[data-follows]").forEach(function (follow) {
  var box = document.getElementById(follow.getAttribute("data-follows"));
  var orgValue = follow.getAttribute("data-org-value") === "enabled";
  var ownValue = box.checked;
  function sync() {
    if (follow.disabled) return; // read-only role: the server rendered both boxes locked
    if (follow.checked && !box.disabled) ownValue = box.checked;
    box.disabled = follow.checked;
    box.checked = follow.checked ? orgValue : ownValue;
  }
  follow.addEventListener("change", sync);
  sync();
});
// "Select all" on the multi-factor authentication list.
document.querySelectorAll("input[data-select-all]").forEach(function (all) {
  all.addEventListener("change", function () {
    document.querySelectorAll("input[name=user]").forEach(function (b) { b.checked = all.checked; });
  });
});
// The language switcher returns to the page it was used on.
var langBack = document.getElementById("lang-back");
if (langBack) langBack.value = location.pathname + location.search;
// Copy buttons for one-time secrets and DNS records: the clipboard when the browser allows it,
// else the text is selected so Ctrl+C (or the phone's menu) copies it; either way the result is
// said in the polite live region, so a screen reader hears it.
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  if (!buttons.length) return;
  var status = document.createElement("p");
  status.id = "copy-status";
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  document.body.appendChild(status);
  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  function say(button, text) {
    status.textContent = "";
    // A new text node each time, so the same words are announced again.
    setTimeout(function () { status.textContent = text; }, 50);
    button.setAttribute("data-copied", text);
  }
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      var el = document.getElementById(button.getAttribute("data-copy"));
      if (!el) return;
      var text = el.textContent.trim();
      var copied = button.getAttribute("data-copied-text");
      var selected = button.getAttribute("data-selected-text");
      function fallback() { select(el); say(button, selected); }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { say(button, copied); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
