#!/usr/bin/env python3
"""The tree a newcomer reads: every section reference in the code and the
tests names a heading of doc/, nothing reads the contract outside the
repository, common/ stands on its own, and README's map links each doc.
Prints TAP."""
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = re.compile(r"(\.(c|h|sh|py|cfg)|Makefile|/run)$")
# "doc/relay-sessions.md §9.4", "doc/proxy-protocol.md §4-§6, §10.3" ...
REFERENCE = re.compile(r"doc/([a-z0-9-]+\.md)((?:(?:,? and |, |-|–| to |/| )?§\d+(?:\.\d+)*)+)")
SHARED = "../" + "shared"  # the contract beside a checkout; spelled so that this file does not name it
SECTION = re.compile(r"§(\d+(?:\.\d+)*)")
results = []


def result(ok, name, detail=""):
    results.append((ok, name, detail))


def tracked_sources():
    files = subprocess.run(["git", "-C", TOP, "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.split()
    def is_source(f):
        path = os.path.join(TOP, f)
        if f.startswith(("doc/", "tools/bench/results/")) or not os.path.isfile(path):
            return False
        with open(path, "rb") as fh:
            return bool(SOURCES.search(f)) or fh.read(2) == b"#!"
    return [f for f in files if is_source(f)]


def headings(doc):
    numbers = set()
    with open(os.path.join(TOP, "doc", doc), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#+\s+(\d+(?:\.\d+)*)\.?\s", line)
            if m:
                numbers.add(m.group(1))
    return numbers


def check_references(files):
    bad, count, docs = [], 0, {}
    for path in files:
        with open(os.path.join(TOP, path), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                covered = set()
                for m in REFERENCE.finditer(line):
                    doc = m.group(1)
                    if doc not in docs:
                        docs[doc] = headings(doc) if os.path.exists(os.path.join(TOP, "doc", doc)) else None
                    for s in SECTION.finditer(m.group(2)):
                        count += 1
                        covered.add(m.start(2) + s.start())
                        if docs[doc] is None:
                            bad.append(f"{path}:{n}: doc/{doc} does not exist")
                        elif s.group(1) not in docs[doc]:
                            bad.append(f"{path}:{n}: doc/{doc} has no heading {s.group(1)}")
                for s in SECTION.finditer(line):
                    if s.start() not in covered:
                        bad.append(f"{path}:{n}: §{s.group(1)} names no document of doc/")
    result(not bad and count > 0, f"every § reference in code and tests ({count}) names a heading of doc/",
           "\n".join(bad))


def check_no_shared(files):
    bad = []
    for path in files:
        with open(os.path.join(TOP, path), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if SHARED in line and path != ".ci/run":
                    bad.append(f"{path}:{n}: {line.strip()}")
    result(not bad, "no build step or test reads the contract beside the checkout (only .ci/run may)", "\n".join(bad))


def check_common(files):
    own = {os.path.basename(f) for f in files if f.startswith("common/") and f.endswith(".h")}
    bad = []
    for path in files:
        if not path.startswith("common/"):
            continue
        with open(os.path.join(TOP, path), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if m and m.group(1) not in own:
                    bad.append(f"{path}:{n}: includes {m.group(1)}, not a header of common/")
    result(not bad, "common/ includes only its own headers", "\n".join(bad))


def check_readme():
    with open(os.path.join(TOP, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    missing = [d for d in sorted(os.listdir(os.path.join(TOP, "doc"))) if d.endswith(".md")
               and f"(doc/{d})" not in readme]
    result(not missing, "README's map links each document of doc/", "missing: " + ", ".join(missing))


def main():
    files = tracked_sources()
    check_references([f for f in files if f != "selftests/test_layout.py"])
    check_no_shared(files)
    check_common(files)
    check_readme()
    print(f"1..{len(results)}")
    for i, (ok, name, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok:
            for line in detail.splitlines()[:50]:
                print(f"# {line}")
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
