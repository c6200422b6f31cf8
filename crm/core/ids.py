"""The range of the primary keys every model uses (DEFAULT_AUTO_FIELD = BigAutoField).

A number outside it names nothing, and the database refuses it with an error instead of finding
no row (SQLite: "Python int too large to convert"), so every id from a request is checked first.
"""

MAX_ID = 2**63 - 1
