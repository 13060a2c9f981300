#!/usr/bin/env python3
"""Values of the BPF <-> userspace ABI (include/*.h) for the selftests, read
from the headers the programs are built from rather than copied into the
tests: a macro (an integer expression or a string) and the mp_stats counter
names.  A name that is missing or defined twice is an error, never a guess.

  mp_abi.py NAME...
      prints the value of each macro NAME, one a line; exits 1 when one is not found
"""
import ast
import glob
import operator
import os
import re
import sys

INCLUDE = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include"))
OPERATORS = {ast.LShift: operator.lshift, ast.BitOr: operator.or_, ast.Add: operator.add,
             ast.Sub: operator.sub, ast.Mult: operator.mul}


def headers():
    text = ""
    for path in sorted(glob.glob(os.path.join(INCLUDE, "*.h"))):
        with open(path) as f:
            text += f.read()
    return text


def evaluate(node, name):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, str)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return OPERATORS[type(node.op)](evaluate(node.left, name), evaluate(node.right, name))
    raise ValueError("%s: cannot evaluate %s" % (name, ast.unparse(node)))


def macro(name):
    """The value of `#define NAME value` in include/*.h."""
    found = re.findall(r"^#define[ \t]+%s[ \t]+(.+?)[ \t]*(?:/\*.*)?$" % re.escape(name), headers(), re.M)
    if len(found) != 1:
        raise LookupError("%s is %s in %s/*.h" % (name, "defined %d times" % len(found) if found else "not defined",
                                                  INCLUDE))
    expression = re.sub(r"\b(\d+)[uUlL]+\b", r"\1", found[0])  # C's 1U is Python's 1
    return evaluate(ast.parse(expression, mode="eval").body, name)


def stat_names():
    """The mp_stats counter names in index order (MP_STAT_LIST, mp_stats.h)."""
    names = re.findall(r'X\([A-Z0-9_]+, "([a-z0-9_]+)"\)', headers())
    if not names:
        raise LookupError("no MP_STAT_LIST entries in %s/*.h" % INCLUDE)
    return names


if __name__ == "__main__":
    try:
        for arg in sys.argv[1:]:
            print(macro(arg))
    except (LookupError, ValueError) as e:
        sys.exit("mp_abi.py: %s" % e)
