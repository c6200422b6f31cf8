// Progressive enhancement for Settings > Mailbox sync: while a sync runs (or the first one is
// awaited), ask the server every 2 s how far it got and update the bar in place. When the state
// changes (finished, failed, disconnected) reload, so the page shows the new state and the log.
// Without JavaScript, a <noscript> meta refresh reloads the whole page instead.
(() => {
  const panel = document.querySelector("[data-poll-url]");
  if (!panel) return;
  const url = panel.dataset.pollUrl;
  const text = panel.querySelector('[data-role="progress-text"]');
  const percent = panel.querySelector('[data-role="percent"]');
  const bar = panel.querySelector("progress");
  const count = document.querySelector('[data-role="message-count"]');
  const number = new Intl.NumberFormat();
  let failures = 0;

  // The first sync finishing, a failure, a disconnection: anything the page shows differently.
  function changed(status) {
    return (
      status.state !== panel.dataset.state ||
      (status.state_reason || "") !== (panel.dataset.reason || "") ||
      Boolean(status.last_synced_at) !== Boolean(panel.dataset.lastSynced)
    );
  }

  function show(status) {
    if (count) count.textContent = String(status.message_count);
    if (!text || !bar || status.state !== "syncing") return;
    if (status.progress_total > 0) {
      text.textContent = `${number.format(status.progress_done)} of ${number.format(status.progress_total)} messages`;
      if (percent) percent.textContent = `${status.percent} %`;
      bar.max = status.progress_total;
      bar.value = status.progress_done;
      bar.textContent = `${status.percent} %`;
    }
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
    window.setTimeout(poll, Math.min(2000 * 2 ** failures, 30000));
  }

  window.setTimeout(poll, 2000);
})();
