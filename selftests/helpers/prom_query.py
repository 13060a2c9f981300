#!/usr/bin/env python3
"""Values from a Prometheus text exposition (a daemon's /metrics).

  prom_query.py FILE SELECTOR...

A SELECTOR is a metric name, optionally with labels that must match:
name{label="value",...}.  Prints, one line per selector, the sum of the
samples that match (an integer when it is one), or "none" when none does.
"""
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            sys.exit(f"prom_query.py: not a sample: {line}")
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in LABEL.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def query(samples, selector):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$', selector)
    if not m:
        sys.exit(f"prom_query.py: not a selector: {selector}")
    wanted = dict(LABEL.findall(m.group(2) or ""))
    values = [v for name, labels, v in samples
              if name == m.group(1) and all(labels.get(k) == x for k, x in wanted.items())]
    if not values:
        return "none"
    total = sum(values)
    return str(int(total)) if total == int(total) else str(total)


def main(path, *selectors):
    with open(path) as f:
        samples = parse(f.read())
    for selector in selectors:
        print(query(samples, selector))


if __name__ == "__main__":
    main(*sys.argv[1:])
