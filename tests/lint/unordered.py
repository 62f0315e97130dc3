#!/usr/bin/env python3
"""No `Dictionary` or `Set` iteration order reaches the output of a sans-IO core.

Swift seeds `Hasher` per process, so iterating a `Dictionary` or `Set` visits its elements in an order that changes
from run to run; if that order reaches a transmit, an event or a choice, two runs with one seed differ. Like
Firezone's `clippy.toml` (disallowed methods `HashMap::iter`, `keys`, `values`), this lint finds the names a core
target declares with an unordered type and flags every place that walks one: `for … in name`, `name.keys`,
`name.values`, and the order-sensitive collection methods. Lookups, inserts, removals, `count` and `sorted` are
fine. A walk whose order provably cannot reach output may stay, with `// unordered-ok: <why>` on its line.

Usage: tests/lint/unordered.py DIRECTORY...
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

# `var name: [Key: Value]`, `: Set<…>`, `: Dictionary<…>`, and `= [:]` / `= Set(…)` / `= Dictionary(…)`.
DECLARATION = re.compile(
    r"\b(?:var|let)\s+(\w+)\s*(?::\s*(?:\[(?!\()[^\[\]]+:[^\[\]]+\]|\[[^\[\]]*\[[^\]]*\][^\[\]]*:[^\]]*\]|Set<|Dictionary<)"
    r"|=\s*(?:\[:\]|Set\(|Set<|Dictionary\(|Dictionary<))")
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


def main(directories):
    files = sorted(path for directory in directories for path in (ROOT / directory).rglob("*.swift"))
    names = set()
    for path in files:
        for line in path.read_text().splitlines():
            names.update(DECLARATION.findall(strip_comment(line)))
    if not names:
        print(f"unordered: {len(files)} files, no Dictionary or Set declared")
        return 0

    alternatives = "|".join(sorted(map(re.escape, names)))
    reference = rf"(?<!\w)(?:{alternatives})\b"
    walks = [
        re.compile(rf"\bfor\b[^{{]*\bin\s+(?:[\w.]*\.)?{reference}\s*(?:\{{|where\b)"),
        # `name.keys.sorted()` is the fix, not the fault.
        re.compile(rf"{reference}\s*\.\s*(?:{'|'.join(ORDER_SENSITIVE)})\b(?!\s*\.\s*sorted\b)"),
        re.compile(rf"\b(?:Array|OrderedSet|Deque|ContiguousArray)\(\s*{reference}\s*\)"),
    ]
    failures = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if WAIVER in line:
                continue
            code = strip_comment(line)
            if any(walk.search(code) for walk in walks):
                failures.append(f"{path.relative_to(ROOT)}:{number}: walks an unordered collection: {line.strip()}")
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
