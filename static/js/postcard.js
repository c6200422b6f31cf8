// Progressive enhancement: what a row on a card holds is loaded when the row is expanded (a
// message body, the emails of a conversation). Without JavaScript each row keeps its link to a
// page showing the same.
document.addEventListener("toggle", async (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open || details.dataset.loaded) return;
  const url = details.dataset.fragmentUrl;
  const target = details.querySelector(":scope > .fragment");
  if (!url || !target) return;
  details.dataset.loaded = "1";
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(response.statusText);
    // The server renders email text escaped (inside <pre>, or as rows); nothing from it runs.
    target.innerHTML = await response.text();
  } catch (error) {
    delete details.dataset.loaded;
    const message = document.createElement(target.tagName === "UL" ? "li" : "p");
    message.className = "error";
    message.textContent = details.dataset.fragmentError || "This could not be loaded.";
    target.replaceChildren(message);
  }
}, true);

// Security headers (issue 8, point 3): the Content-Security-Policy forbids inline handlers, so a
// form that destroys something carries its question in data-confirm and is asked here.
// Without JavaScript the form submits as it is; the server still requires the POST.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});
