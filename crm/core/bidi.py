"""Bidirectional text: keep user-supplied text from reordering the text around it.

A name ending in U+202E RIGHT-TO-LEFT OVERRIDE (or holding any other embedding, override or
isolate control, U+202A-U+202E, U+2066-U+2069) reverses what follows it on the same line:
"Eve\u202e → Bob" shows as "Eve boB →". Unicode's isolates (UAX #9) contain it: in HTML the
<bdi> element (the `isolate` template filter), in plain text FSI … PDI (`isolated`).

An isolate ends at the first unmatched U+2069 POP DIRECTIONAL ISOLATE, and Chromium's <bdi>
too: "Eve\u2069\u202e" would break out of either. `contained` drops such a PDI and closes the
isolates the text opens itself; embeddings and overrides need nothing, the isolate ends them.
"""

FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"
ISOLATE_INITIATORS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI


def contained(text: str) -> str:
    """`text` with every isolate it opens closed, and no PDI closing one opened around it."""
    depth = 0
    kept = []
    for char in text:
        if char in ISOLATE_INITIATORS:
            depth += 1
        elif char == POP_DIRECTIONAL_ISOLATE:
            if not depth:
                continue
            depth -= 1
        kept.append(char)
    return "".join(kept) + POP_DIRECTIONAL_ISOLATE * depth


def isolated(text: object) -> str:
    """`text` between FSI and PDI, for strings composed in code (headings, flash messages)."""
    return f"{FIRST_STRONG_ISOLATE}{contained(str(text))}{POP_DIRECTIONAL_ISOLATE}"
