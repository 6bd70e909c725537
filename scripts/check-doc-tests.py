#!/usr/bin/env python3
"""Every test the documentation cites must exist.

docs/LIFECYCLE.md cites tests as an abbreviation from its table of test files followed by
display names in quotes or function names in backticks:

    LC "a frozen peer that stops answering pings is removed after the ping timeout"
    SM `closeRequestedTwiceSendsOneCloseFrame`, `closedIgnoresEveryEvent(route:event:)`

A function name must be a test in the file the abbreviation names; a display name must be
a test's display name there (a name ending in "…" is a prefix). docs/FAILURE-MODES.md cites
display names in quotes in its "proved by" column; each must be a display name somewhere in
the tests. It cites the multi-node tests (pytest, tests/cluster) by function name in
backticks; each must be a test function there. Exits 1 and lists every citation that names no test.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_DIRS = [ROOT / "Tests"]

DISPLAY = re.compile(r'@(?:Test|Suite)\(\s*"((?:[^"\\]|\\.)*)"')
FUNC = re.compile(r'@Test(?:\([^\n]*\))?\s*(?:\n\s*)?(?:@\w+(?:\([^\n]*\))?\s*)*func\s+(\w+)')
ITEM = re.compile(r'\s*(?:,|and|,\s*and)?\s*("(?:[^"]+)"|`[^`]+`)')


def tests_in(path):
    text = path.read_text()
    return set(DISPLAY.findall(text)), set(FUNC.findall(text))


def all_tests():
    per_file = {}
    for folder in TEST_DIRS:
        for path in folder.rglob("*.swift"):
            per_file[path.name] = tests_in(path)
    return per_file


def display_matches(name, names):
    if name.endswith("…"):
        prefix = name[:-1].rstrip()
        return any(n.startswith(prefix) for n in names)
    return name in names


def check_lifecycle(per_file, problems):
    doc = (ROOT / "docs" / "LIFECYCLE.md").read_text()
    abbreviations = dict(re.findall(r'^\|\s*\*\*(\w+)\*\*\s*\|\s*`([^`]+\.swift)`', doc, re.M))
    if not abbreviations:
        problems.append("LIFECYCLE.md: no table of test-file abbreviations found")
        return 0
    cited = 0
    pattern = re.compile(r'\b(' + "|".join(map(re.escape, abbreviations)) + r')\b(?=\s+["`])')
    for match in pattern.finditer(doc):
        abbreviation = match.group(1)
        filename = pathlib.Path(abbreviations[abbreviation]).name
        if filename not in per_file:
            problems.append(f"LIFECYCLE.md: {abbreviation} names {filename}, which is not a test file")
            continue
        displays, funcs = per_file[filename]
        position = match.end()
        while True:
            item = ITEM.match(doc, position)
            if not item:
                break
            position = item.end()
            token = item.group(1)
            cited += 1
            if token.startswith('"'):
                name = " ".join(token[1:-1].split())
                if not display_matches(name, displays):
                    problems.append(f'LIFECYCLE.md: {abbreviation} "{name}" is not a test in {filename}')
            else:
                name = token[1:-1].split("(")[0]
                if name not in funcs:
                    problems.append(f"LIFECYCLE.md: {abbreviation} `{token[1:-1]}` is not a test function in {filename}")
    return cited


def check_failure_modes(per_file, problems):
    every_display = set().union(*(displays for displays, _ in per_file.values()))
    cited = 0
    for line in (ROOT / "docs" / "FAILURE-MODES.md").read_text().splitlines():
        if not line.startswith("| **"):
            continue
        proved_by = line.rstrip().rstrip("|").rsplit("|", 1)[-1]
        for name in re.findall(r'"([^"]+)"', proved_by):
            cited += 1
            if not display_matches(name, every_display):
                problems.append(f'FAILURE-MODES.md: "{name}" is not a test display name')
        for name in re.findall(r'`(test_\w+)(?:\[[^\]`]*\])?`', proved_by):
            cited += 1
            if name not in pytest_functions():
                problems.append(f"FAILURE-MODES.md: `{name}` is not a test function in tests/cluster")
    return cited


def pytest_functions():
    """The multi-node tests (pytest), cited in backticks by function name."""
    names = set()
    for path in (ROOT / "tests" / "cluster").glob("test_*.py"):
        names.update(re.findall(r'^(?:async )?def (test_\w+)', path.read_text(), re.M))
    return names


def main():
    per_file = all_tests()
    problems = []
    cited = check_lifecycle(per_file, problems) + check_failure_modes(per_file, problems)
    for problem in problems:
        print(problem)
    print(f"{cited} test citations checked, {len(problems)} name no test")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
