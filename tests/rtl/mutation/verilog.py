"""Light Verilog reading for mutation testing: comment masking, tokens and the mutation operators.

Not a parser: a tokeniser over the source with comments and strings blanked
out, plus a mask of the places where a mutation is not a fault of the design
but of its configuration or bookkeeping (see :func:`mutable_mask`). Every
operator works on the token list and returns :class:`Site` objects (an exact
character span of the original text and its replacement), so a mutant is the
original file with one span replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "OPERATORS",
    "Token",
    "Site",
    "mask_comments",
    "tokenize",
    "mutable_mask",
    "find_sites",
    "generated_spans",
    "module_names",
    "instantiated_modules",
]

# The six operator families of issue 13 §6, in report order.
OPERATORS = ("relational", "arithmetic", "constant", "bit-select", "inverted-condition", "stuck-assignment")

# Longest first, so "<<<" is one token and "<" only matches a lone "<".
_PUNCT = ("<<<", ">>>", "===", "!==", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+:", "-:", "~&", "~|", "~^",
          "^~", "**")
_TOKEN_RE = re.compile(
    r"(?P<sized>\d*\s*'[sS]?[bBoOdDhH]\s*[0-9a-fA-F_xXzZ?]+)"
    r"|(?P<number>\d[\d_]*)"
    r"|(?P<ident>[A-Za-z_$][\w$]*)"
    r"|(?P<punct>" + "|".join(re.escape(p) for p in _PUNCT) + r"|[^\s\w])"
)
_DECL_KEYWORDS = {"wire", "reg", "integer", "genvar", "input", "output", "inout"}
_PARAM_KEYWORDS = {"localparam", "parameter"}
_RELATIONAL_SWAPS = {"<": ("<=", ">"), "<=": ("<", ">="), ">": (">=", "<"), ">=": (">", "<="),
                     "==": ("!=",), "!=": ("==",)}
_OPEN = {"(": ")", "[": "]", "{": "}"}
_ZERO_RHS = re.compile(r"^(0|\d+'[bBdDhHoO]0+|\{[^{}]*\{1'b0\}\}|[A-Z][A-Z0-9_]*ZERO)$")
_ONES_RHS = re.compile(r"^(\{[^{}]*\{1'b1\}\}|1'b1|[A-Z][A-Z0-9_]*ONES)$")
_SIMPLE = re.compile(r"^[A-Za-z_]\w*$|^\d+$")


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``sized``, ``number``, ``ident`` or ``punct``; ``start``/``end`` index the source."""

    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Site:
    """One mutation: replace ``source[start:end]`` (``original``) by ``replacement``."""

    operator: str
    start: int
    end: int
    original: str
    replacement: str


def mask_comments(text: str) -> str:
    """``text`` with comments, strings and compiler-directive lines blanked to spaces (newlines kept).

    The result has the same length as ``text``, so every offset found in it is
    an offset of the original source.
    """
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    at_line_start = True
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            blank(i, j)
            i = j
        elif ch == "`" and at_line_start:
            # `default_nettype, `timescale ...: not design logic
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        else:
            if ch == "\n":
                at_line_start = True
            elif not ch.isspace():
                at_line_start = False
            i += 1
    return "".join(out)


def tokenize(masked: str) -> list[Token]:
    """Tokens of a comment-masked source (see :func:`mask_comments`)."""
    return [Token(m.lastgroup or "punct", m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(masked)]


def _match_close(tokens: list[Token], i: int) -> int:
    """Index of the bracket closing ``tokens[i]`` (one of ``( [ {``), counting every bracket kind."""
    depth = 0
    for k in range(i, len(tokens)):
        t = tokens[k].text
        if t in _OPEN:
            depth += 1
        elif t in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return k
    raise ValueError(f"unbalanced {tokens[i].text!r} at offset {tokens[i].start}")


def _statement_end(tokens: list[Token], i: int, stops: tuple[str, ...] = (";",)) -> int:
    """Index of the first token in ``stops`` at bracket depth 0 from ``i`` on (len(tokens) if none)."""
    depth = 0
    for k in range(i, len(tokens)):
        t = tokens[k].text
        if t in _OPEN:
            depth += 1
        elif t in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and t in stops:
            return k
    return len(tokens)


def mutable_mask(tokens: list[Token]) -> list[bool]:
    """Per token: may a mutation touch it?

    Not mutable, because a change there alters the configuration or the
    bookkeeping rather than the logic (or is a guaranteed compile error):
    the module header (parameter defaults, port declarations), the heads of
    declarations up to their ``=`` (widths, array bounds, names), the
    replication counts of ``{N{...}}`` (zero-extension widths, which the
    assignment truncates again), the init and step clauses of ``for`` headers
    (a changed step is an endless loop, not a fault a test could see), and the
    ``_unused`` lint sink, and ``localparam integer`` statements (derived
    sizes). Values of typed ``localparam`` constants stay mutable.
    """
    ok = [True] * len(tokens)
    n = len(tokens)

    def block(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            ok[k] = False

    i = 0
    while i < n:
        t = tokens[i]
        if t.text == "module":
            end = _statement_end(tokens, i)
            block(i, end + 1)
            i = end + 1
            continue
        if t.text in _PARAM_KEYWORDS:
            # Integer (size) parameters derive widths and depths from the configuration: a change
            # there is another configuration (or a compile error), so the whole statement is
            # skipped. Typed constants (state codes, saturation rails, zero words) keep their value
            # mutable; their head and "=" (no assignment) are skipped.
            integer_param = i + 1 < n and tokens[i + 1].text == "integer"
            end = _statement_end(tokens, i, (";",) if integer_param else (";", "="))
            block(i, end + 1)
            i = end + 1
            continue
        if t.text in _DECL_KEYWORDS:
            end = _statement_end(tokens, i, (";", "="))
            block(i, end)
            # the lint sink: `wire _unused = &{...};` reads bits on purpose and drives nothing
            names = {tokens[k].text for k in range(i, end)}
            if "_unused" in names:
                block(end, _statement_end(tokens, end) + 1)
            i = end
            continue
        if t.text == "for" and i + 1 < n and tokens[i + 1].text == "(":
            close = _match_close(tokens, i + 1)
            first = _statement_end(tokens, i + 2)
            second = _statement_end(tokens, first + 1)
            block(i, first + 1)           # for ( init ;
            block(second, close + 1)      # ; step )
            i = close + 1
            continue
        if t.text == "{":
            # {count{...}}: tokens between this brace and the next "{" at depth 0 are a replication count
            k, depth = i + 1, 0
            while k < n:
                tk = tokens[k].text
                if depth == 0 and tk == "{":
                    block(i + 1, k)
                    break
                if depth == 0 and tk in (",", "}"):
                    break
                if tk in ("(", "["):
                    depth += 1
                elif tk in (")", "]"):
                    depth -= 1
                k += 1
        i += 1
    return ok


def _is_operand_end(tok: Token) -> bool:
    return tok.kind in ("ident", "number", "sized") or tok.text in (")", "]", "}")


def _lvalue_start(tokens: list[Token], i: int) -> int | None:
    """Index where the lvalue ending just before ``tokens[i]`` starts, or None if there is none."""
    k = i - 1
    if k < 0:
        return None
    if tokens[k].text == "}":
        depth = 0
        while k >= 0:
            if tokens[k].text == "}":
                depth += 1
            elif tokens[k].text == "{":
                depth -= 1
                if depth == 0:
                    return k
            k -= 1
        return None
    while k >= 0 and tokens[k].text == "]":
        depth = 0
        while k >= 0:
            if tokens[k].text == "]":
                depth += 1
            elif tokens[k].text == "[":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        k -= 1
    if k >= 0 and tokens[k].kind == "ident":
        return k
    return None


def _is_nonblocking(tokens: list[Token], i: int) -> bool:
    """Is the ``<=`` at ``tokens[i]`` a nonblocking assignment (not a comparison)?"""
    start = _lvalue_start(tokens, i)
    if start is None:
        return False
    if start == 0:
        return True
    before = tokens[start - 1].text
    return before in (";", ")", ":", "begin", "else", "end", "default")


def _assignment_ops(tokens: list[Token]) -> list[int]:
    """Token indices of the assignment operators: ``=`` and the nonblocking ``<=``."""
    return [i for i, t in enumerate(tokens)
            if t.text == "=" or (t.text == "<=" and _is_nonblocking(tokens, i))]


def _sized_value(text: str) -> tuple[int, str, int, str, int] | None:
    """``(width, base, value, signed, digits)`` of a sized literal, or None when it holds x/z or no width."""
    m = re.fullmatch(r"(\d+)\s*'([sS]?)([bBoOdDhH])\s*([0-9a-fA-F_]+)", text)
    if not m:
        return None
    base = {"b": 2, "o": 8, "d": 10, "h": 16}[m.group(3).lower()]
    digits = m.group(4).replace("_", "")
    return int(m.group(1)), m.group(3), int(digits, base), m.group(2), len(digits)


def _format_sized(width: int, base_char: str, value: int, signed: str, digits: int) -> str:
    base = {"b": 2, "o": 8, "d": 10, "h": 16}[base_char.lower()]
    body = {2: format(value, "b"), 8: format(value, "o"), 10: str(value), 16: format(value, "x")}[base]
    if base != 10:
        body = body.rjust(digits, "0")
    return f"{width}'{signed}{base_char}{body}"


def _plus_minus(expr: str, delta: int) -> str:
    """``expr`` + ``delta`` as Verilog text (folded when ``expr`` is a decimal)."""
    if re.fullmatch(r"\d+", expr):
        return str(int(expr) + delta)
    inner = expr if _SIMPLE.match(expr) else f"({expr})"
    return f"{inner}{'+' if delta > 0 else '-'}{abs(delta)}"


def _text(source: str, tokens: list[Token], a: int, b: int) -> str:
    """Source text of tokens ``a .. b-1``."""
    return source[tokens[a].start:tokens[b - 1].end] if b > a else ""


# A block written by a generator script (e.g. the exit unit's tables from rtl/gen_exit_luts.py): between a
# comment line holding BEGIN GENERATED and one holding END GENERATED.
_GENERATED = re.compile(r"//[^\n]*\bBEGIN GENERATED\b.*?//[^\n]*\bEND GENERATED\b", re.S)


def generated_spans(source: str) -> list[tuple[int, int]]:
    """Character spans of the generated blocks of ``source`` (not mutated: copies of data kept elsewhere,
    which a test compares with their source entry by entry)."""
    return [m.span() for m in _GENERATED.finditer(source)]


def find_sites(source: str) -> list[Site]:
    """Every mutation site of one Verilog source, in source order (ties: operator order)."""
    masked = mask_comments(source)
    tokens = tokenize(masked)
    ok = mutable_mask(tokens)
    for a, b in generated_spans(source):
        for k, t in enumerate(tokens):
            if a <= t.start < b:
                ok[k] = False
    sites: list[Site] = []
    assign_ops = set(_assignment_ops(tokens))

    def add(op: str, a: int, b: int, replacement: str, check: bool = True) -> None:
        """Replace tokens a .. b-1 (all mutable unless ``check`` is off) by ``replacement``."""
        if not check or all(ok[a:b]):
            original = _text(source, tokens, a, b)
            if replacement != original:
                sites.append(Site(op, tokens[a].start, tokens[b - 1].end, original, replacement))

    # bracket depth of "[...]" per token: constants and +/- inside selects belong to the bit-select operator
    in_select = [False] * len(tokens)
    depth = 0
    for i, t in enumerate(tokens):
        if t.text == "[":
            depth += 1
        elif t.text == "]":
            depth -= 1
        in_select[i] = depth > 0 and t.text != "["

    for i, t in enumerate(tokens):
        prev = tokens[i - 1] if i > 0 else None
        # relational ------------------------------------------------------------
        if t.text in _RELATIONAL_SWAPS and i not in assign_ops:
            for rep in _RELATIONAL_SWAPS[t.text]:
                add("relational", i, i + 1, rep)
        # arithmetic: binary + and - only (not unary, not the +: / -: part-selects)
        if t.text in ("+", "-") and prev is not None and _is_operand_end(prev) and not in_select[i]:
            add("arithmetic", i, i + 1, "-" if t.text == "+" else "+")
        # constant off-by-one --------------------------------------------------------
        if t.kind in ("number", "sized") and not in_select[i]:
            if t.kind == "number":
                value = int(t.text.replace("_", ""))
                for rep in (value + 1, value - 1):
                    if rep >= 0:
                        add("constant", i, i + 1, str(rep))
            else:
                parsed = _sized_value(t.text)
                if parsed is not None:
                    width, base_char, value, signed, digits = parsed
                    for rep in (value + 1, value - 1):
                        if 0 <= rep < (1 << width):
                            add("constant", i, i + 1, _format_sized(width, base_char, rep, signed, digits))
        # bit-select: x[i] -> x[i+-1], x[h:l] -> x[h+-1:l+-1], x[b +: w] -> x[b+-1 +: w]
        if t.text == "[" and prev is not None and (prev.kind == "ident" or prev.text == "]"):
            close = _match_close(tokens, i)
            colon = _statement_end(tokens, i + 1, (":", "+:", "-:"))
            if colon >= close:
                expr = _text(source, tokens, i + 1, close)
                for delta in (1, -1):
                    if not (expr == "0" and delta < 0):
                        add("bit-select", i + 1, close, _plus_minus(expr, delta))
            elif tokens[colon].text == ":":
                hi = _text(source, tokens, i + 1, colon)
                lo = _text(source, tokens, colon + 1, close)
                for delta in (1, -1):
                    if not (lo == "0" and delta < 0):
                        add("bit-select", i + 1, close, f"{_plus_minus(hi, delta)}:{_plus_minus(lo, delta)}")
            else:
                base = _text(source, tokens, i + 1, colon)
                width = _text(source, tokens, colon + 1, close)
                for delta in (1, -1):
                    if not (base == "0" and delta < 0):
                        add("bit-select", i + 1, close, f"{_plus_minus(base, delta)} {tokens[colon].text} {width}")
        # inverted condition -------------------------------------------------------------
        if t.text == "if" and i + 1 < len(tokens) and tokens[i + 1].text == "(" and ok[i]:
            close = _match_close(tokens, i + 1)
            cond = _text(source, tokens, i + 2, close)
            sites.append(Site("inverted-condition", tokens[i + 1].start, tokens[close].end,
                              f"({cond})", f"(!({cond}))"))
        # stuck assignment: rhs -> 0 / all ones ------------------------------------------
        if i in assign_ops and ok[i]:
            end = _statement_end(tokens, i + 1)
            if end > i + 1 and end < len(tokens):
                rhs = _text(source, tokens, i + 1, end)
                flat = re.sub(r"\s+", "", rhs)
                # A constant right-hand side (no signal names; constants are upper case here) is
                # the constant operator's; stuck-at would repeat its mutants.
                signals = [tk for tk in tokens[i + 1:end] if tk.kind == "ident" and not tk.text.isupper()]
                if not signals:
                    continue
                if not _ZERO_RHS.match(flat):
                    add("stuck-assignment", i + 1, end, "0", check=False)
                if not _ONES_RHS.match(flat):
                    add("stuck-assignment", i + 1, end, "~0", check=False)
    sites.sort(key=lambda s: (s.start, OPERATORS.index(s.operator)))
    return sites


def module_names(source: str) -> list[str]:
    """Names of the modules declared in ``source``."""
    return re.findall(r"\bmodule\s+([A-Za-z_]\w*)", mask_comments(source))


def instantiated_modules(source: str, known: set[str]) -> set[str]:
    """Which of the ``known`` module names ``source`` instantiates (``name #(`` or ``name u_inst (``)."""
    masked = mask_comments(source)
    found = set()
    for name in known:
        if re.search(rf"(?<![\w$]){re.escape(name)}\s*(#\s*\(|[A-Za-z_]\w*\s*\()", masked):
            found.add(name)
    return found
