#!/usr/bin/env python3
"""config-manpage.py TEMPLATE SAMPLE: prints the man page TEMPLATE (mdoc)
with its line "@OPTIONS@" replaced by every section and option of SAMPLE,
config/config.ini.sample: the option, its default, the comment above it
and its example, so that the page says what the sample says.

The sample's form: "[Section]"; blocks separated by blank lines, each the
"; " comment lines that describe it and then its option lines, "name =
default" or ";name = example" for an example (an option whose default is
empty).  A comment line indented past "; " is a literal display (a table,
a list of forms).
"""
import re
import sys
import textwrap

OPTION = re.compile(r"^(;?)([A-Za-z_]+) = ?(.*)$")
# a sentence ends, and the next starts on the same line
SENTENCE_END = re.compile(r"(?<=[.!?]) +(?=[A-Z\"(])|(?<=[.!?][\"')]) +(?=[A-Z\"(])")


def escape(text):
    """Text as roff reads it literally."""
    text = text.replace("\\", "\\e").replace("\u00a7", "\\(sc")
    return "\\&" + text if text.startswith((".", "'")) else text


def paragraph(lines):
    """Prose lines as mdoc wants them: each sentence on lines of its own,
    none longer than 80 bytes, escaped."""
    out = []
    for sentence in SENTENCE_END.split(" ".join(line.strip() for line in lines)):
        out += [escape(l) for l in textwrap.wrap(sentence, 76, break_long_words=False, break_on_hyphens=False)]
    return out


def comment_body(comments):
    """A block's comment lines as mdoc: prose, and literal displays for
    the lines indented past "; "."""
    out, prose, literal = [], [], []

    def flush():
        if prose:
            out.extend(paragraph(prose))
            prose.clear()
        if literal:
            out.extend([".Bd -literal -offset indent"] + [escape(l) for l in literal] + [".Ed"])
            literal.clear()

    for line in comments:
        if line.startswith("  "):
            if prose:
                flush()
            literal.append(line[2:])
        else:
            if literal:
                flush()
            prose.append(line)
    flush()
    return out


def blocks(sample):
    """Yields ("section", name) and ("block", comments, options, examples)."""
    comments, options, examples = [], [], []

    def block():
        return ("block", list(comments), list(options), list(examples))

    started = False
    for raw in sample.splitlines() + [""]:
        line = raw.rstrip()
        section = re.match(r"^\[(\w+)\]$", line)
        if section:
            started = True
            yield ("section", section.group(1))
            continue
        if not started:
            continue  # the header: the man page says it in its own words
        option = OPTION.match(line)
        if option:
            (examples if option.group(1) else options).append((option.group(2), option.group(3)))
        elif line.startswith(";"):
            comments.append(line[2:] if line.startswith("; ") else line[1:])
        elif not line and (comments or options or examples):
            yield block()
            comments, options, examples = [], [], []


def options_mdoc(sample):
    out, in_list = [], False
    for item in blocks(sample):
        if item[0] == "section":
            if in_list:
                out.append(".El")
            out += [".Ss [%s]\\&" % item[1], ".Bl -tag -width Ds"]
            in_list = True
            continue
        _, comments, options, examples = item
        # an option shown only as an example is empty by default
        for name, default in options or [(name, "") for name, _ in examples[:1]]:
            out.append(".It Cm %s No = %s" % (name, "Ar " + escape(default) if default else "Pq empty"))
        out += comment_body(comments)
        for name, example in examples:
            out += ["For example:", ".Dl %s = %s" % (name, escape(example))]
    if in_list:
        out.append(".El")
    return out


def main():
    template, sample = (open(path, encoding="utf-8").read() for path in sys.argv[1:3])
    lines = []
    for line in template.splitlines():
        lines += options_mdoc(sample) if line == "@OPTIONS@" else [line]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
