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
