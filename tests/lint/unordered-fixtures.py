#!/usr/bin/env python3
"""The unordered lint's own test: on the fixtures under tests/lint/fixtures/unordered it reports exactly the lines
marked `// flagged` (walks of Dictionaries and Sets, whatever their declaration's form) and no other line (lookups,
sorted walks, waived walks, and ordered namesakes of unordered names).

Usage: tests/lint/unordered-fixtures.py
"""

import contextlib
import importlib.util
import io
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "unordered"


def main():
    spec = importlib.util.spec_from_file_location("unordered", HERE / "unordered.py")
    unordered = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unordered)

    expected = set()
    for path in sorted(FIXTURES.glob("*.swift")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"//\s*flagged\b", line):
                expected.add(f"{path.relative_to(unordered.ROOT)}:{number}")

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = unordered.main([str(FIXTURES.relative_to(unordered.ROOT))])
    reported = set(re.findall(r"^unordered: (\S+:\d+): walks", output.getvalue(), re.MULTILINE))

    missed, extra = sorted(expected - reported), sorted(reported - expected)
    for location in missed:
        print(f"unordered-fixtures: not reported: {location}")
    for location in extra:
        print(f"unordered-fixtures: reported but not marked: {location}")
    if missed or extra or status != 1 or not expected:
        print("unordered-fixtures: the lint does not report exactly the marked walks")
        return 1
    print(f"unordered-fixtures: {len(expected)} marked walks reported, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
