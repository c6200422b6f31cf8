"""Read an HTML form the way a browser submits it, so admin tests post what a person would.

A test that posts hand-written data can miss a field the page renders (a password box carrying
the hash, say); posting what the page itself holds cannot.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    data: list[tuple[str, str]] = field(default_factory=list)
    # Every value a person could read or edit in a box: inputs (hidden ones too) and textareas.
    field_values: list[str] = field(default_factory=list)
    submit_names: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def post_data(self, submit: str | None = None) -> dict[str, list[str]]:
        """The body a browser sends when `submit` (a button's name) is clicked."""
        body: dict[str, list[str]] = {}
        for name, value in self.data:
            body.setdefault(name, []).append(value)
        if submit is not None:
            assert submit in self.submit_names, f"no {submit!r} button in {self.submit_names}"
            body[submit] = [""]
        return body


class _FormReader(HTMLParser):
    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.form: Form | None = None
        self.inside = False
        self.select: tuple[str, bool, list[tuple[str, bool]]] | None = None
        # The open <option>: its value attribute (None: the text is the value), text, selected.
        self.option: tuple[str | None, list[str], bool] | None = None
        self.textarea: str | None = None
        self.textarea_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None and self.form_id in (None, a.get("id")):
            self.form, self.inside = Form(action=a.get("action", "")), True
            return
        if not self.inside or self.form is None:
            return
        if tag == "a" and "href" in a:
            self.form.links.append(a["href"])
        disabled = "disabled" in a
        if tag == "input":
            self._input(a, disabled)
        elif tag == "select" and not disabled:
            self.select = (a.get("name", ""), "multiple" in a, [])
        elif tag == "option" and self.select is not None:
            self._close_option()  # </option> is optional in HTML
            self.option = (a.get("value") if "value" in a else None, [], "selected" in a)
        elif tag == "textarea":
            self.textarea = a.get("name", "") if not disabled else None
            self.textarea_text = ""

    def _input(self, a: dict[str, str], disabled: bool) -> None:
        assert self.form is not None
        kind, name, value = a.get("type", "text"), a.get("name", ""), a.get("value", "")
        self.form.field_values.append(value)
        if kind in ("submit", "button", "image", "reset"):
            if name:
                self.form.submit_names.append(name)
            return
        if disabled or not name or kind == "file":
            return
        if kind in ("checkbox", "radio"):
            if "checked" in a:
                self.form.data.append((name, value or "on"))
            return
        self.form.data.append((name, value))

    def _close_option(self) -> None:
        if self.option is not None and self.select is not None:
            value, text, selected = self.option
            self.select[2].append((value if value is not None else "".join(text).strip(), selected))
        self.option = None

    def handle_data(self, data: str) -> None:
        if self.option is not None:
            self.option[1].append(data)
        if self.textarea is not None:
            self.textarea_text += data

    def handle_endtag(self, tag: str) -> None:
        if not self.inside or self.form is None:
            return
        if tag == "option":
            self._close_option()
        elif tag == "select" and self.select is not None:
            self._close_option()
            name, multiple, options = self.select
            chosen = [value for value, selected in options if selected]
            if not chosen and not multiple and options:
                chosen = [options[0][0]]  # a single select always sends its first option
            self.form.data += [(name, value) for value in chosen]
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # A browser drops the one newline that follows <textarea>.
            text = self.textarea_text.removeprefix("\n")
            self.form.field_values.append(text)
            self.form.data.append((self.textarea, text))
            self.textarea = None
        elif tag == "form":
            self.inside = False


def read_form(html: str, form_id: str | None = None) -> Form:
    """The first form on the page (or the one with id `form_id`)."""
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.form is not None, f"no form {form_id or ''} on the page"
    return reader.form
