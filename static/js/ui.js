// Behaviour every page shares that needs no server: auto-submitting selects (the language
// switcher), so the header works without inline scripts.

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}
