// Progressive enhancement of <select multiple data-contact-picker>: a search box over the same
// options, a checkbox per match and the chosen contacts as removable chips. The select stays in
// the form (hidden) and is what gets posted, so the page works the same without JavaScript.
(() => {
  const MAX_SHOWN = 50; // a long company list stays fast: type more to narrow it

  // Case- and accent-insensitive: "zoe" finds "Zoë".
  const fold = (text) => text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  const nameOf = (option) => option.text.split(" · ")[0];

  function element(tag, props = {}, attrs = {}) {
    const node = Object.assign(document.createElement(tag), props);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    return node;
  }

  function enhance(select) {
    // Words of the name, company and addresses: "an" finds Anna and Andersen, not Ethan.
    const options = Array.from(select.options, (option) => {
      const key = fold(option.text);
      return { option, key, words: key.split(/[^\p{L}\p{N}]+/u) };
    });
    const matchesTerm = ({ key, words }, term) =>
      /[^\p{L}\p{N}]/u.test(term) ? key.includes(term) : words.some((w) => w.startsWith(term));
    const search = element(
      "input",
      { type: "search", id: `${select.id}_search`, autocomplete: "off" },
      { placeholder: "Search by name, company or email", "aria-controls": `${select.id}_matches` },
    );
    const chosen = element("ul", { className: "picker-chosen" }, { "aria-label": "Chosen contacts" });
    const matches = element(
      "div",
      { className: "picker-options", id: `${select.id}_matches` },
      { role: "group", "aria-label": "Matching contacts" },
    );
    const status = element("p", { className: "picker-status" }, { "aria-live": "polite" });
    const box = element("div", { className: "picker" });
    box.append(chosen, search, matches, status);
    select.hidden = true;
    select.after(box);

    const label = select.id && document.querySelector(`label[for="${select.id}"]`);
    if (label) label.htmlFor = search.id;
    const help = select.closest(".field")?.querySelector(".help");
    if (help) help.textContent = "Type a name, company or address, then tick the contacts.";

    function choose(option, selected) {
      option.selected = selected;
      renderChosen();
      renderMatches();
    }

    function renderChosen() {
      const picked = options.filter(({ option }) => option.selected);
      chosen.replaceChildren(
        ...picked.map(({ option }) => {
          const remove = element(
            "button",
            { type: "button", className: "chip-remove", textContent: "×" },
            { "aria-label": `Remove ${nameOf(option)}` },
          );
          remove.addEventListener("click", () => {
            choose(option, false);
            search.focus();
          });
          const chip = element("li", { className: "chip" });
          chip.append(element("span", { textContent: nameOf(option) }), remove);
          return chip;
        }),
      );
      chosen.hidden = picked.length === 0;
    }

    function renderMatches() {
      const terms = fold(search.value).split(/\s+/).filter(Boolean);
      const found = options.filter((entry) => terms.every((term) => matchesTerm(entry, term)));
      matches.replaceChildren(
        ...found.slice(0, MAX_SHOWN).map(({ option }) => {
          const tick = element("input", {
            type: "checkbox",
            checked: option.selected,
            value: option.value,
          });
          tick.addEventListener("change", () => choose(option, tick.checked));
          const row = element("label", { className: "picker-option" });
          row.append(tick, element("span", { textContent: option.text }));
          return row;
        }),
      );
      status.textContent =
        found.length === 0
          ? "No contact matches."
          : found.length > MAX_SHOWN
            ? `Showing ${MAX_SHOWN} of ${found.length} contacts: type more to narrow the list.`
            : `${found.length} contact${found.length === 1 ? "" : "s"}`;
    }

    search.addEventListener("input", renderMatches);
    search.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      // Enter picks the first match not yet chosen, rather than submitting the form half-done.
      event.preventDefault();
      const first = matches.querySelector("input[type=checkbox]:not(:checked)");
      if (first) choose(options.find(({ option }) => option.value === first.value).option, true);
    });
    renderChosen();
    renderMatches();
  }

  document.querySelectorAll("select[multiple][data-contact-picker]").forEach(enhance);
})();
