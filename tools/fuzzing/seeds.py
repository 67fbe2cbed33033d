#!/usr/bin/env python3
"""Seed helpers for tools/fuzz.

  seeds.py trim OUT_DIR FILE...   one seed per JSON/JSON-lines file: files of at most 16 KB as they are; larger
                                  ones trimmed (every array cut to its first element and those that
                                  bring member names not seen yet, 4 at most; JSON lines to the
                                  first 20 lines, each trimmed), keeping the structure the adapters look for.
  seeds.py dict OUT_FILE DIR      a libFuzzer dictionary: the member names and short strings of the JSON or YAML
                                  seeds in DIR, plus numbers that sit at the edges of integer and double ranges.
"""
import json
import os
import re
import sys

LIMIT = 16 * 1024
EDGE_NUMBERS = [
    "0", "-0", "-1", "1e400", "-1e400", "1e19", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "18446744073709551616", "0.000000000000000000001", "1.5e-400", "NaN", "Infinity",
    "inf", "nan", "2147483648", "4294967296", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z",
]


def keys(value):
    """The member names anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(item) for item in value))
    return set()


def trim(value):
    if isinstance(value, list):
        # The first element, then the elements that bring member names not seen yet, at most 4 in all.
        chosen, seen = [], set()
        for item in value:
            found = keys(item)
            if not chosen or not found <= seen:
                chosen.append(item)
                seen |= found
            if len(chosen) == 4:
                break
        return [trim(item) for item in chosen]
    if isinstance(value, dict):
        return {key: trim(item) for key, item in value.items()}
    return value


def trim_file(out_dir, path):
    name = os.path.basename(path)
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) <= LIMIT:
        out = data
    elif path.endswith(".jsonl"):
        lines = [json.dumps(trim(json.loads(line))) for line in data.decode().splitlines()[:20] if line.strip()]
        out = ("\n".join(lines) + "\n").encode()
    else:
        out = json.dumps(trim(json.loads(data))).encode()
    with open(os.path.join(out_dir, name), "wb") as handle:
        handle.write(out)


def escape(token):
    return "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "\\x%02x" % ord(ch) for ch in token)


def dictionary(out_file, seed_dir):
    tokens = set(EDGE_NUMBERS)
    for name in os.listdir(seed_dir):
        text = open(os.path.join(seed_dir, name), "rb").read().decode("utf-8", "replace")
        for match in re.finditer(r'"([^"\\]{1,40})"\s*:', text):
            tokens.add('"%s":' % match.group(1))
        for match in re.finditer(r"^\s*-?\s*([A-Za-z_][A-Za-z0-9_]{0,40}):", text, re.MULTILINE):
            tokens.add(match.group(1) + ":")
        for match in re.finditer(r':\s*"([^"\\]{1,20})"', text):
            tokens.add('"%s"' % match.group(1))
    with open(out_file, "w") as handle:
        for token in sorted(tokens):
            if all(ord(ch) < 0x80 for ch in token):
                handle.write('"%s"\n' % escape(token))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "trim":
        os.makedirs(sys.argv[2], exist_ok=True)
        for path in sys.argv[3:]:
            trim_file(sys.argv[2], path)
    elif len(sys.argv) == 4 and sys.argv[1] == "dict":
        dictionary(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
