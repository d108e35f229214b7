#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Every source file of telgate carries `SPDX-License-Identifier: ISC` in its first lines
(LICENSE). `scripts/spdx.py` lists the files that do not and exits 1; `--add` puts the
line on top of them (after a #! line). Run by ctest as lint_spdx."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "SPDX-License-Identifier: ISC"


def sources():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True,
                         check=True).stdout.split()
    for f in out:
        base = os.path.basename(f)
        if f.startswith("fuzz/corpus/"):
            continue
        if f.endswith((".c", ".h", ".py", ".sh")) or base == "CMakeLists.txt" or \
                f == ".ci/run":
            yield f


def comment_for(f):
    return f"/* {TAG} */\n" if f.endswith((".c", ".h")) else f"# {TAG}\n"


def main():
    add = "--add" in sys.argv
    missing = []
    for f in sources():
        path = os.path.join(ROOT, f)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
        if any(TAG in x for x in lines[:3]):
            continue
        missing.append(f)
        if add:
            at = 1 if lines and lines[0].startswith("#!") else 0
            lines.insert(at, comment_for(f))
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
    if missing and not add:
        print("no SPDX-License-Identifier line:", *missing, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
