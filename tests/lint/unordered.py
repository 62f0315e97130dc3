#!/usr/bin/env python3
"""No `Dictionary` or `Set` iteration order reaches the output of a sans-IO core.

Swift seeds `Hasher` per process, so iterating a `Dictionary` or `Set` visits its elements in an order that changes
from run to run; if that order reaches a transmit, an event or a choice, two runs with one seed differ. Like
Firezone's `clippy.toml` (disallowed methods `HashMap::iter`, `keys`, `values`), this lint finds the names a core
target declares with an unordered type and flags every place that walks one: `for … in name`, `name.keys`,
`name.values`, and the order-sensitive collection methods. Lookups, inserts, removals, `count` and `sorted` are
fine. A walk whose order provably cannot reach output may stay, with `// unordered-ok: <why>` on its line.

Names are scoped as far as a line-based lint can tell, so that a name that is unordered in one place does not flag
a walk of an ordered namesake elsewhere:
- a local variable (declared in a function body) is checked in its own file only;
- a stored property is checked in the files of its type, `Type.swift` and `Type+Concern.swift`, however it is
  reached; in other files only when reached through another value (`connection.name`, not `self.name` or a bare
  `name`, which in another type's file name that type's own members).

Usage: tests/lint/unordered.py DIRECTORY...
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

DECLARATION_START = re.compile(r"\b(?:var|let)\s+(\w+)\s*")
TYPE_KEYWORD = re.compile(r"\b(?:struct|class|enum|extension|actor|protocol)\b")
ORDER_SENSITIVE = ("keys", "values", "map", "compactMap", "flatMap", "filter", "forEach", "reduce", "first",
                   "min", "max", "enumerated", "lazy", "makeIterator", "randomElement", "popFirst", "removeFirst",
                   "joined", "prefix", "suffix", "dropFirst", "dropLast", "elementsEqual", "split", "shuffled")
WAIVER = "// unordered-ok:"


def strip_comment(line):
    # Good enough for lint purposes: code before a `//` that is not inside a string literal.
    in_string = False
    for index, character in enumerate(line):
        if character == '"':
            in_string = not in_string
        elif not in_string and line.startswith("//", index):
            return line[:index]
    return line


def strip_strings(code):
    """The code with every string literal's content removed, so that braces and brackets in strings do not count."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)


def bracketed(text, start):
    """The text from the bracket at `start` to its matching bracket, or None when it does not close on the line."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] in "[(<":
            depth += 1
        elif text[index] in "])>":
            depth -= 1
            if depth == 0:
                return text[start:index + 1]
    return None


def is_dictionary_literal_type(text):
    """Whether `[…]` is a dictionary type `[Key: Value]`: a colon at its own level, not inside nested brackets."""
    depth = 0
    for character in text[1:-1]:
        if character in "[(<":
            depth += 1
        elif character in "])>":
            depth -= 1
        elif character == ":" and depth == 0:
            return True
    return False


def is_unordered_type(text):
    """Whether a type (or an initializer expression) at the start of `text` is a Dictionary or a Set."""
    text = text.lstrip()
    if re.match(r"(?:Swift\.)?(?:Set|Dictionary)\s*[<(]", text):
        return True
    if text.startswith("[:]"):
        return True
    if text.startswith("["):
        literal = bracketed(text, 0)
        return literal is not None and is_dictionary_literal_type(literal)
    return False


def declarations(code):
    """(name, unordered) for every `var`/`let` on the line: unordered when its type annotation, or else its
    initializer, is a Dictionary or a Set (`: [K: V]`, `: Set<T>`, `= [:]`, `= [K: V]()`, `= Set(…)`)."""
    found = []
    for match in DECLARATION_START.finditer(code):
        rest = code[match.end():]
        if rest.startswith(":"):
            unordered = is_unordered_type(rest[1:])
        elif rest.startswith("="):
            unordered = is_unordered_type(rest[1:])
        else:
            unordered = False
        found.append((match.group(1), unordered))
    return found


def family(path):
    """The type a file belongs to by name: `Node` for `Node.swift` and `Node+Outbound.swift`."""
    return path.stem.split("+", 1)[0]


class SourceFile:
    def __init__(self, path):
        self.path = path
        self.family = family(path)
        self.lines = path.read_text().splitlines()
        self.unordered_locals = set()
        self.unordered_properties = set()
        self.scan()

    def scan(self):
        # A stack of scopes, "type" or "code", to tell a stored property from a local variable.
        scopes = []
        pending_type = False
        in_multiline_string = False
        for line in self.lines:
            if line.count('"""') % 2 == 1:
                in_multiline_string = not in_multiline_string
                continue
            if in_multiline_string:
                continue
            code = strip_strings(strip_comment(line))
            in_type = not scopes or scopes[-1] == "type"
            for name, unordered in declarations(code):
                if unordered:
                    (self.unordered_properties if in_type else self.unordered_locals).add(name)
            for token in re.finditer(r"[{}]|\b(?:struct|class|enum|extension|actor|protocol)\b", code):
                if token.group() == "{":
                    scopes.append("type" if pending_type else "code")
                    pending_type = False
                elif token.group() == "}":
                    if scopes:
                        scopes.pop()
                else:
                    pending_type = True


def walk_patterns(names, foreign):
    """Regular expressions that find a walk of one of `names`: reached in any way, or (`foreign`) only through a
    value other than `self` (`connection.name`, `connections[id]?.name`)."""
    names = "|".join(sorted(map(re.escape, names)))
    methods = "|".join(ORDER_SENSITIVE)
    if foreign:
        receiver = rf"(?!self\.(?:{names})\b)\S*?[\w\])?!]\."
        method_receiver = r"(?<!\bself\.)(?<=[\w\])?!]\.)"
    else:
        receiver = r"\S*?(?<!\w)"
        method_receiver = r"(?<!\w)"
    return [
        re.compile(rf"\bfor\b[^{{]*\bin\s+{receiver}(?:{names})\s*(?:\{{|where\b)"),
        # `name.keys.sorted()` is the fix, not the fault.
        re.compile(rf"{method_receiver}(?:{names})\s*\.\s*(?:{methods})\b(?!\s*\.\s*sorted\b)"),
        re.compile(rf"\b(?:Array|OrderedSet|Deque|ContiguousArray)\(\s*{receiver}(?:{names})\s*\)"),
    ]


def main(directories):
    paths = sorted(path for directory in directories for path in (ROOT / directory).rglob("*.swift"))
    files = [SourceFile(path) for path in paths]
    properties_by_family = {}
    for source in files:
        properties_by_family.setdefault(source.family, set()).update(source.unordered_properties)
    all_properties = set().union(*properties_by_family.values()) if properties_by_family else set()
    names = all_properties.union(*(source.unordered_locals for source in files))
    if not names:
        print(f"unordered: {len(files)} files, no Dictionary or Set declared")
        return 0

    failures = []
    for source in files:
        # Reached in any way: this file's locals, and its type's properties (bare, through `self` or another value).
        own = source.unordered_locals | properties_by_family.get(source.family, set())
        # Reached only through another value: other types' properties.
        foreign = all_properties - own
        patterns = []
        if own:
            patterns += walk_patterns(own, foreign=False)
        if foreign:
            patterns += walk_patterns(foreign, foreign=True)
        if not patterns:
            continue
        for number, line in enumerate(source.lines, start=1):
            if WAIVER in line:
                continue
            code = strip_comment(line)
            if any(pattern.search(code) for pattern in patterns):
                failures.append(f"{source.path.relative_to(ROOT)}:{number}: walks an unordered collection: "
                                f"{line.strip()}")
    for failure in failures:
        print("unordered:", failure)
    if failures:
        print("unordered: use OrderedDictionary/OrderedSet, sort first, or say why the order cannot reach output "
              f"with '{WAIVER} …'")
        return 1
    print(f"unordered: {len(files)} files, {len(names)} unordered names, never walked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
