// Progressive enhancement for Settings > Mailbox sync: while Postcard is at work on the mailbox
// (or waiting for its worker), ask the server how far it got and update the bar in place. When
// the state or the headline changes (started, finished, failed, disconnected) reload, so the page
// shows the new state, its one action and the log. The server decides both (mailbox_status_view):
// this script never guesses a state. Without JavaScript, a <noscript> meta refresh reloads instead.
(() => {
  const panel = document.querySelector("[data-poll-url]");
  if (!panel) return;
  const url = panel.dataset.pollUrl;
  const text = panel.querySelector('[data-role="progress-text"]');
  const percent = panel.querySelector('[data-role="percent"]');
  const bar = panel.querySelector("progress");
  const count = document.querySelector('[data-role="message-count"]');
  const number = new Intl.NumberFormat();
  // Waiting for a stopped worker can last hours: ask less often then.
  const every = panel.dataset.state === "stalled" ? 15000 : 2000;
  let failures = 0;

  function changed(status) {
    return status.state !== panel.dataset.state || status.headline !== panel.dataset.headline;
  }

  function show(status) {
    if (count) count.textContent = number.format(status.message_count);
    if (!text || !bar || status.progress_total <= 0) return;
    text.textContent = `${number.format(status.progress_done)} of ${number.format(status.progress_total)} messages`;
    if (percent) percent.textContent = `${status.percent} %`;
    bar.max = status.progress_total;
    bar.value = status.progress_done;
    bar.textContent = `${status.percent} %`;
  }

  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.statusText);
      const status = await response.json();
      failures = 0;
      if (changed(status)) {
        window.location.reload();
        return;
      }
      show(status);
    } catch (error) {
      failures += 1; // a restarting server: wait longer, do not give up
    }
    window.setTimeout(poll, Math.min(every * 2 ** failures, 60000));
  }

  window.setTimeout(poll, every);
})();
