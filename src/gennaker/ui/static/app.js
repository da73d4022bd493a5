// Theme (light/dark, remembered) and keyboard shortcuts: "/" focuses search, "g a" goes to applications.
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("gennaker-theme");
  if (saved) root.dataset.theme = saved;
  else if (window.matchMedia("(prefers-color-scheme: dark)").matches) root.dataset.theme = "dark";
  document.addEventListener("click", (event) => {
    if (!event.target.closest("[data-theme-toggle]")) return;
    root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("gennaker-theme", root.dataset.theme);
  });
  // Forms that change something name their target in data-confirm and ask before they are sent.
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // A post needs the session's CSRF token: forms without a csrf field (Sign out) take it from another form
  // of the page, else from its cookie (which another port of the host could have overwritten).
  function csrfToken() {
    const field = document.querySelector("input[name=csrf]");
    if (field && field.value) return field.value;
    const cookie = document.cookie.split("; ").find((part) => part.startsWith("gennaker_csrf="));
    return cookie ? decodeURIComponent(cookie.slice("gennaker_csrf=".length)) : "";
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || form.method !== "post" || form.elements.namedItem("csrf")) return;
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = "csrf";
    field.value = csrfToken();
    form.appendChild(field);
  });
  let pending = "";
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, select, textarea")) return;
    if (event.key === "/") {
      const search = document.querySelector("input[type=search]");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (pending === "g" && event.key === "a") {
      window.location.href = "/ui/applications";
    }
    pending = event.key;
  });
})();
