"""Summarise a py-spy ``--format raw`` profile: where the time goes, as self and inclusive shares.

Run: ``python -m bench.relay.flame profile.raw [--top 25]``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


def summarise(raw: str, top: int) -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";")]
        total += count
        self_time[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
        leaf_file = frames[-1].rpartition("(")[2]
        packages[leaf_file.split("/")[0].removesuffix(")")] += count
    lines = [f"{total} samples", "", "| self % | function |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in self_time.most_common(top)]
    lines += ["", "| incl. % | function |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in inclusive.most_common(top)]
    lines += ["", "| self % | package or module |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in packages.most_common(12)]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarise(args.raw.read_text(), args.top))
