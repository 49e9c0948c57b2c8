#!/usr/bin/env python3
"""The README's C quick start must be the region of tests/c/example_provider.c between
`/* quickstart:begin */` and `/* quickstart:end */`, so the README cannot drift from code that
is compiled and run. The README block is the first ```c fence between
<!-- quickstart:c --> and <!-- /quickstart:c -->.

usage: check_readme.py README.md example_provider.c
       check_readme.py --extract README.md SOURCE_OUT SCRIPT_OUT
"""
import difflib
import re
import sys


def region(text, begin, end, what):
    try:
        start = text.index(begin) + len(begin)
        stop = text.index(end, start)
    except ValueError:
        sys.exit(f"check_readme: {what}: markers {begin!r} ... {end!r} not found")
    return text[start:stop]


def extract(readme_path, source_out, script_out):
    """Writes the quick start's C block and its `cc` line, to run the line as the README shows."""
    with open(readme_path, encoding="utf-8") as f:
        block = region(f.read(), "<!-- quickstart:c -->", "<!-- /quickstart:c -->", readme_path)
    code = re.search(r"^```c\n(.*?)^```$", block, re.S | re.M)
    lines = [line for line in block.splitlines() if line.startswith("cc ")]
    if not code or len(lines) != 1:
        sys.exit(f"check_readme: want one ```c block and one `cc` line in {readme_path}")
    with open(source_out, "w", encoding="utf-8") as f:
        f.write(code.group(1))
    with open(script_out, "w", encoding="utf-8") as f:
        f.write(lines[0] + "\n")
    print(f"check_readme: {source_out} and the README's compile line {lines[0]!r}")


def main():
    if sys.argv[1] == "--extract":
        extract(*sys.argv[2:5])
        return
    readme_path, example_path = sys.argv[1], sys.argv[2]
    with open(readme_path, encoding="utf-8") as f:
        block = region(f.read(), "<!-- quickstart:c -->", "<!-- /quickstart:c -->", readme_path)
    m = re.search(r"^```c\n(.*?)^```$", block, re.S | re.M)
    if not m:
        sys.exit(f"check_readme: no ```c block in the C quick start of {readme_path}")
    shown = m.group(1)
    with open(example_path, encoding="utf-8") as f:
        code = region(f.read(), "/* quickstart:begin */\n", "/* quickstart:end */", example_path)
    if shown != code:
        diff = difflib.unified_diff(
            code.splitlines(True), shown.splitlines(True), example_path, readme_path
        )
        sys.stderr.writelines(diff)
        sys.exit("check_readme: the README's C quick start differs from the example; copy it over")
    print("check_readme: the README's C quick start is tests/c/example_provider.c")


if __name__ == "__main__":
    main()
