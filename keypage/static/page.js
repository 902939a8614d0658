// keyscope settings page: small improvements on top of pages that work
// without script. Loaded from the page's own origin (no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: copy the named field's value to the clipboard.
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    var field = document.getElementById(btn.getAttribute("data-copy"));
    var status = document.getElementById("copy-status");
    if (!field) { return; }
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var done = function (ok) {
        if (status) { status.textContent = ok ? "Copied to the clipboard." : "Select the key and copy it."; }
        btn.textContent = ok ? "Copied" : "Copy";
      };
      field.focus();
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () {
          done(document.execCommand && document.execCommand("copy"));
        });
      } else {
        done(document.execCommand && document.execCommand("copy"));
      }
    });
  });
  // A form is sent once: a second click while the first is on its way
  // would be refused as a repeat. A form marked data-repeatable (the
  // token's download) leaves the page as it is, so it may be sent again.
  document.querySelectorAll("form[method=post]:not([data-repeatable])").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  // Escape closes an open actions menu and returns focus to it.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") { return; }
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      d.open = false;
      var s = d.querySelector("summary");
      if (s) { s.focus(); }
    });
  });
});
