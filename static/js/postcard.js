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
