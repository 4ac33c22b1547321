// Behaviour every page shares that needs no server: auto-submitting selects (the language
// switcher), so the header works without inline scripts.

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

// Print buttons (the pick list): the browser's print dialog, without an inline handler.
for (const button of document.querySelectorAll("button[data-print]")) {
  button.addEventListener("click", () => window.print());
}
