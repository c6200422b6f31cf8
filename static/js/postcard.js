// Progressive enhancement: load a message body when its row on a card is expanded.
// Without JavaScript the row keeps its link to the full message page.
document.addEventListener("toggle", async (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open || details.dataset.loaded) return;
  const url = details.dataset.bodyUrl;
  const target = details.querySelector(".email-body");
  if (!url || !target) return;
  details.dataset.loaded = "1";
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(response.statusText);
    // The server renders the body as escaped text inside <pre>; nothing from the email runs.
    target.innerHTML = await response.text();
  } catch (error) {
    delete details.dataset.loaded;
    target.insertAdjacentHTML("afterbegin", '<p class="error">The message could not be loaded. </p>');
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
