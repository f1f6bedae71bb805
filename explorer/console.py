"""The read-only console's guard, shared by the explorer's Cypher console and `amx-query --cypher`.

An allow-list, not a list of bad words. `check` tokenizes the text strictly (strings with their
backslash escapes, back-quoted names, `//` and `/* */` comments, parameters, numbers, ASCII words and
operators; anything else, an unterminated string or comment included, is refused) and accepts exactly one
statement (a `;` is allowed only at the very end) made only of reading clauses:

    MATCH, OPTIONAL MATCH, WHERE, WITH, UNWIND, RETURN, ORDER BY, SKIP, LIMIT, UNION [ALL],
    CALL proc(...) [YIELD ...] of a read-only procedure in READ_PROCEDURES (schema listings only:
    none reads a file, a setting or the network).

The statement must start with one of them, and wherever one expression ends and a clause could start,
the next word must be one of them or an operator word (AND, OR, AS, ...). EXISTS/COUNT/COLLECT { ... }
subqueries are checked by the same rules; CALL { ... } subqueries, settings (`CALL threads=1`), table
functions that read files, extension management (INSTALL, UNINSTALL, UPDATE, LOAD EXTENSION), COPY,
LOAD FROM / LOAD CSV, EXPORT / IMPORT DATABASE, ATTACH, USE, transactions and every write are refused,
each with one line that says what is not allowed. Namespaced functions are allowed only for the
temporal, spatial and vector namespaces (`apoc.*` and other plug-ins could read files).

`run` then executes the accepted statement on its own short-lived read-only connection, never on the
explorer's shared one, with a row cap and a time limit: on Neo4j a new driver whose session is in READ
access mode (the server refuses writes: a second wall) and a transaction timeout; on the embedded store a
child process that opens the file read-only, so a statement that still crashes the engine ends only
that child (`cypher.backends.ladybug_child`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amx_core.errors import AmxError, StoreError

MAX_ROWS = 1000  # rows returned at most (one more is fetched to tell that the answer was cut)
TIMEOUT_S = 15.0  # seconds a console statement may run
MAX_CHARS = 20_000

READ_PROCEDURES = frozenset({
    # Neo4j 5: schema listings
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.visualization",
    "db.schema.nodetypeproperties", "db.schema.reltypeproperties",
    # LadybugDB: catalogue listings
    "show_tables", "table_info", "show_connection", "show_indexes", "db_version", "show_functions",
})
FUNCTION_NAMESPACES = ("date.", "datetime.", "localdatetime.", "localtime.", "time.", "duration.", "point.",
                       "vector.")
CLAUSES = ("MATCH", "OPTIONAL", "WHERE", "WITH", "UNWIND", "RETURN", "ORDER", "SKIP", "LIMIT", "CALL", "UNION",
           "YIELD")
STARTS = ("MATCH", "OPTIONAL", "WITH", "UNWIND", "RETURN", "CALL")
# words allowed where an expression has ended (besides the clauses): they join or finish expressions
OPERATOR_WORDS = frozenset({"AND", "OR", "XOR", "IS", "NOT", "IN", "STARTS", "ENDS", "CONTAINS", "AS", "ASC",
                            "ASCENDING", "DESC", "DESCENDING", "WHEN", "THEN", "ELSE", "END", "BY"})
# ... and inside brackets also WHERE (comprehensions, quantifiers); after these an operand follows
_KEEP_OPERAND = frozenset({"NOT", "DISTINCT", "CASE", "WHEN", "THEN", "ELSE", "SHORTEST", "WSHORTEST", "ALL",
                           "ANY", "ACYCLIC", "TRAIL"})
_AFTER_OPERAND = frozenset({"END", "ASC", "ASCENDING", "DESC", "DESCENDING", "NULL", "TRUE", "FALSE"})
# Words that start or make up a statement that writes, administers, reads files or the network, in either
# dialect. Refused wherever they stand as a bare word (a back-quoted `name` is fine): they make the
# refusal name the clause; the clause structure above is what keeps everything else out.
FORBIDDEN = frozenset({
    "CREATE", "MERGE", "DELETE", "DETACH", "SET", "REMOVE", "DROP", "ALTER", "FOREACH", "INSERT", "RENAME",
    "TRUNCATE", "COMMENT", "FINISH", "LET", "FILTER", "NEXT", "COPY", "LOAD", "EXPORT", "IMPORT", "INSTALL",
    "UNINSTALL", "UPDATE", "ATTACH", "USE", "BEGIN", "COMMIT", "ROLLBACK", "CHECKPOINT", "TRANSACTION",
    "TRANSACTIONS", "GRANT", "DENY", "REVOKE", "SHOW", "TERMINATE", "START", "STOP", "ENABLE", "EXPLAIN",
    "PROFILE", "MACRO", "EXTENSION", "PERIODIC",
})
FILE_WORDS = frozenset({"COPY", "LOAD", "EXPORT", "IMPORT", "INSTALL", "UNINSTALL", "UPDATE", "ATTACH",
                        "EXTENSION"})
_PUNCT = ("<>", "<=", ">=", "=~", "->", "<-", "..", "!=", "::", "(", ")", "[", "]", "{", "}", ",", ".", ":", ";",
          "|", "=", "<", ">", "+", "-", "*", "/", "%", "^", "&", "!")
_OPEN = {"(": ")", "[": "]", "{": "}"}
ALLOWED = ("one reading statement: MATCH, OPTIONAL MATCH, WHERE, WITH, UNWIND, RETURN, ORDER BY, SKIP, LIMIT "
           "and CALL of a schema listing")


class Refused(AmxError):
    """A console statement the guard does not let through; its message is one line starting 'Refused:'."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Refused: {why}. The console runs {ALLOWED}.")


@dataclass(frozen=True)
class Token:
    kind: str  # word | name (back-quoted) | string | number | param | punct
    text: str
    at: int  # character offset

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


@dataclass
class Answer:
    rows: list[dict[str, Any]]
    truncated: bool  # the statement had more rows than the cap


# ------------------------------------------------------------------------------------------ tokens


def tokenize(text: str) -> list[Token]:
    """The statement's tokens (comments dropped); Refused on anything the guard cannot read for sure."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise Refused(f"a /* comment at character {i + 1} is not closed")
            i = end + 2
        elif c in "'\"":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise Refused(f"the string at character {i + 1} is not closed")
            out.append(Token("string", text[i:j + 1], i))
            i = j + 1
        elif c == "`":
            j = i + 1
            while True:
                j = text.find("`", j)
                if j < 0:
                    raise Refused(f"the back-quoted name at character {i + 1} is not closed")
                if text.startswith("``", j):
                    j += 2
                    continue
                break
            out.append(Token("name", text[i:j + 1], i))
            i = j + 1
        elif c == "$":
            j = i + 1
            if j < n and text[j] == "`":
                k = text.find("`", j + 1)
                if k < 0:
                    raise Refused(f"the parameter at character {i + 1} is not closed")
                j = k + 1
            else:
                while j < n and (text[j].isascii() and (text[j].isalnum() or text[j] == "_")):
                    j += 1
            if j == i + 1:
                raise Refused(f"a $ without a parameter name at character {i + 1}")
            out.append(Token("param", text[i:j], i))
            i = j
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append(Token("word", text[i:j], i))
            i = j
        elif c.isascii() and c.isdigit():
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1  # 12, 0x1F, 1e5, 1_000
            if j + 1 < n and text[j] == "." and text[j + 1].isdigit():
                j += 1
                while j < n and text[j].isascii() and (text[j].isalnum() or text[j] in "_"):
                    j += 1
            if j < n and text[j - 1] in "eE" and text[j] in "+-":
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            out.append(Token("number", text[i:j], i))
            i = j
        else:
            op = next((p for p in _PUNCT if text.startswith(p, i)), None)
            if op is None:
                shown = c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"
                raise Refused(f"the character {shown!r} at character {i + 1} is not allowed outside strings")
            out.append(Token("punct", op, i))
            i += len(op)
    return out


# ------------------------------------------------------------------------------------------ the check


def check(text: str) -> str:
    """The statement to send (trailing `;` dropped) if `text` is one reading statement; else Refused."""
    if len(text) > MAX_CHARS:
        raise Refused(f"the statement is {len(text)} characters long, more than {MAX_CHARS}")
    tokens = tokenize(text)
    if not tokens:
        raise Refused("the statement is empty")
    semis = [k for k, t in enumerate(tokens) if t.text == ";" and t.kind == "punct"]
    if semis and semis != [len(tokens) - 1]:
        raise Refused("more than one statement (a ';' before the end); send one statement at a time")
    if semis:
        tokens = tokens[:-1]
        if not tokens:
            raise Refused("the statement is empty")
        text = text[:_last(text, tokens)]
    _Checker(tokens).statement()
    return text.strip()


def _last(text: str, tokens: list[Token]) -> int:
    last = tokens[-1]
    return last.at + len(last.text)


class _Checker:
    """Walks the tokens once: clauses at the top (and inside EXISTS/COUNT/COLLECT braces), expressions with
    an operand/operator state everywhere, brackets matched."""

    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.i = 0

    # -- helpers
    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def word(self, k: int = 0) -> str:
        tok = self.peek(k)
        return tok.upper if tok is not None else ""

    def bare(self, k: int = 0) -> bool:
        """The token at +k is a bare word (not a property key or label after '.' or ':')."""
        tok, before = self.peek(k), self.peek(k - 1) if self.i + k > 0 else None
        return tok is not None and tok.kind == "word" and not (
            before is not None and before.kind == "punct" and before.text in (".", ":", "::"))

    # -- statement and clauses
    def statement(self) -> None:
        self.query(closer=None)
        if self.i < len(self.t):
            tok = self.t[self.i]
            raise Refused(f"unexpected {tok.text!r} at character {tok.at + 1}")

    def query(self, closer: str | None) -> None:
        first = self.peek()
        if first is None or first.upper not in STARTS:
            shown = "nothing" if first is None else repr(first.text)
            self._forbidden_check(0)
            raise Refused(f"a statement must start with MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN or CALL, "
                          f"not {shown}")
        previous = ""
        while True:
            tok = self.peek()
            if tok is None or (closer is not None and tok.kind == "punct" and tok.text == closer):
                return
            clause = tok.upper
            if tok.kind != "word" or clause not in CLAUSES:
                self._forbidden_check(0)
                raise Refused(f"{tok.text!r} at character {tok.at + 1} is not a reading clause")
            self.i += 1
            if clause == "OPTIONAL" and self.word() != "MATCH":
                raise Refused("OPTIONAL must be followed by MATCH")
            if clause == "OPTIONAL":
                self.i += 1
            elif clause == "ORDER":
                if self.word() != "BY":
                    raise Refused("ORDER must be followed by BY")
                self.i += 1
            elif clause == "UNION":
                if self.word() == "ALL":
                    self.i += 1
                if self.word() not in STARTS:
                    self._forbidden_check(0)
                    raise Refused("UNION must be followed by a reading query")
                previous = clause
                continue
            elif clause == "YIELD" and previous != "CALL":
                raise Refused("YIELD is allowed only after CALL of a procedure")
            elif clause == "CALL":
                self.procedure()
                previous = clause
                continue
            self.expression_run(closer, top=True)
            previous = clause

    def procedure(self) -> None:
        """After CALL: an allow-listed procedure name and its arguments in parentheses."""
        tok = self.peek()
        if tok is None or tok.kind not in ("word", "name"):
            raise Refused("CALL is allowed only for a listed read-only procedure, not a CALL { } subquery "
                          f"({', '.join(sorted(READ_PROCEDURES))})")
        parts = [tok.text.strip("`")]
        self.i += 1
        while self.peek() is not None and self.peek().text == "." and self.peek(1) is not None \
                and self.peek(1).kind in ("word", "name"):
            parts.append(self.peek(1).text.strip("`"))
            self.i += 2
        name = ".".join(parts)
        nxt = self.peek()
        if nxt is not None and nxt.text == "=":
            raise Refused(f"CALL {name}=... changes a setting")
        if name.lower() not in READ_PROCEDURES:
            low = name.lower()
            what = ("reads or changes settings" if "setting" in low or "config" in low else
                    "reads files" if low.startswith(("read_", "file_", "load", "apoc.load", "apoc.import",
                                                     "apoc.export")) else "is not a listed read-only procedure")
            raise Refused(f"CALL {name} {what} (allowed: {', '.join(sorted(READ_PROCEDURES))})")
        if nxt is None or nxt.text != "(":
            raise Refused(f"CALL {name} needs its arguments in parentheses, e.g. CALL {name}()")
        self.i += 1
        self.expression_run(")", top=False)
        self.i += 1  # the ')'

    # -- expressions
    def expression_run(self, closer: str | None, *, top: bool) -> None:
        """Tokens of one clause body (top=True: up to the next clause word) or of one bracket (up to `closer`)."""
        operand = True  # an operand is expected next
        while True:
            tok = self.peek()
            if tok is None:
                if closer is not None and not top:
                    raise Refused(f"a bracket is not closed before the end (expected {closer!r})")
                return
            if tok.kind == "punct":
                if tok.text == closer:
                    return
                if tok.text in (")", "]", "}"):
                    raise Refused(f"unbalanced {tok.text!r} at character {tok.at + 1}")
                if tok.text == ";":
                    raise Refused("more than one statement (a ';' before the end); send one statement at a time")
                if tok.text in _OPEN:
                    self.bracket(tok, operand)
                    operand = False
                    continue
                self.i += 1
                if tok.text == "*" and operand:  # RETURN *, count(*): an operand; [*1..3], [:R*]: a marker
                    nxt = self.peek()
                    operand = nxt is not None and (nxt.kind == "number" or nxt.text == ".." or nxt.upper in
                                                   _KEEP_OPERAND)
                    continue
                operand = True
                continue
            if tok.kind == "word" and self.bare():
                self._forbidden_check(0)
                word = tok.upper
                if word == "CALL":
                    if top:
                        return  # the clause loop takes it
                    self.i += 1
                    self.procedure()
                    operand = False
                    continue
                if word == "WITH" and self.word(-1) in ("STARTS", "ENDS"):  # STARTS WITH, ENDS WITH
                    self.i += 1
                    operand = True
                    continue
                if top and word in CLAUSES:
                    return
                if not operand:
                    if word in OPERATOR_WORDS or (word == "WHERE" and not top):
                        self.i += 1
                        operand = word not in _AFTER_OPERAND
                        continue
                    raise Refused(f"{tok.text!r} at character {tok.at + 1} is not a reading clause or an operator")
                self.i += 1
                if word in ("EXISTS", "COUNT", "COLLECT") and self.peek() is not None and self.peek().text == "{":
                    self.subquery()
                    operand = False
                elif word in _KEEP_OPERAND or word in ("WHEN", "THEN", "ELSE"):
                    operand = True
                else:
                    self.function_name(tok)
                    operand = False
                continue
            # a literal, a parameter, a back-quoted name, or a word after '.' or ':'
            if not operand and not (tok.kind == "word" or tok.kind == "name" and self.peek(-1).text in (".", ":")):
                raise Refused(f"unexpected {tok.text!r} at character {tok.at + 1}")
            self.i += 1
            operand = False

    def function_name(self, first: Token) -> None:
        """An identifier was read; when it starts a dotted name called as a function, check its namespace."""
        parts = [first.text]
        k = 0
        while self.peek(k) is not None and self.peek(k).text == "." and self.peek(k + 1) is not None \
                and self.peek(k + 1).kind in ("word", "name"):
            parts.append(self.peek(k + 1).text.strip("`"))
            k += 2
        nxt = self.peek(k)
        if len(parts) > 1 and nxt is not None and nxt.text == "(":
            name = ".".join(parts)
            if not name.lower().startswith(FUNCTION_NAMESPACES):
                raise Refused(f"the function {name} is not allowed (only built-in functions and the "
                              f"{', '.join(p.rstrip('.') for p in FUNCTION_NAMESPACES)} namespaces)")

    def bracket(self, tok: Token, operand: bool) -> None:
        before = self.peek(-1)
        if tok.text == "{" and before is not None and before.upper == "CALL":
            raise Refused("CALL { } subqueries are not allowed")
        self.i += 1
        self.expression_run(_OPEN[tok.text], top=False)
        self.i += 1

    def subquery(self) -> None:
        """EXISTS { ... }, COUNT { ... }, COLLECT { ... }: a reading query (or a bare pattern) by the same rules."""
        self.i += 1  # '{'
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            self.expression_run("}", top=False)
        else:
            self.query(closer="}")
        if self.peek() is None or self.peek().text != "}":
            raise Refused("a { subquery is not closed")
        self.i += 1

    def _forbidden_check(self, k: int) -> None:
        tok = self.peek(k)
        if tok is not None and tok.kind == "word" and tok.upper in FORBIDDEN and self.bare(k):
            word = tok.upper
            if word in FILE_WORDS:
                raise Refused(f"{word} reads or writes files, extensions or other databases")
            if word in ("BEGIN", "COMMIT", "ROLLBACK", "CHECKPOINT", "TRANSACTION", "TRANSACTIONS"):
                raise Refused(f"{word} manages transactions")
            if word in ("USE", "SHOW", "GRANT", "DENY", "REVOKE", "TERMINATE", "START", "STOP", "ENABLE",
                        "EXPLAIN", "PROFILE"):
                raise Refused(f"{word} is an administration command")
            raise Refused(f"{word} would change the data (back-quote it if it is a name: `{tok.text}`)")


# ------------------------------------------------------------------------------------------ running


def run(url: str, text: str, *, max_rows: int = MAX_ROWS, timeout_s: float = TIMEOUT_S) -> Answer:
    """Check `text`, then run it on a new read-only connection to the store at `url` (closed after).

    Refused when the guard refuses it; StoreError when the store cannot run it (its own message, one
    line), including the time limit."""
    statement = check(text)
    from cypher import open_store

    with open_store(url, read_only=True) as store:
        rows = store.run_cypher(statement, max_rows=max_rows, timeout_s=timeout_s)
    return Answer(rows=rows[:max_rows], truncated=len(rows) > max_rows)


def failure(error: StoreError) -> str:
    """One line for a statement the store refused or could not run."""
    said = " ".join(str(error).split())
    low = said.lower()
    if "read-only" in low or "read only" in low or "access mode" in low:
        return f"Refused by the store (read-only): {said}"
    return f"Query failed: {said}"
