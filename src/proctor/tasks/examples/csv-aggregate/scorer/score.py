"""Checks out.csv against the known totals; writes the fraction of categories right to $SCORE_FILE."""

import csv
import os
from pathlib import Path

EXPECTED = {"books": 10465.81, "garden": 16396.38, "kitchen": 2738.67, "toys": 7284.50}


def score() -> float:
    path = Path("/home/agent/out.csv")
    if not path.is_file():
        print("out.csv is missing")
        return 0.0
    rows = list(csv.reader(path.read_text(errors="replace").splitlines()))
    rows = [row for row in rows if row]
    if not rows or [cell.strip() for cell in rows[0]] != ["category", "total"]:
        print("the header is not category,total")
        return 0.0
    body = rows[1:]
    categories = [row[0].strip() for row in body]
    if categories != sorted(categories) or len(set(categories)) != len(categories):
        print("rows are not sorted by category, or a category repeats")
        return 0.0
    right = 0
    for row in body:
        if len(row) != 2 or row[0].strip() not in EXPECTED:
            print(f"unexpected row {row}")
            return 0.0
        try:
            total = float(row[1].replace(",", ""))
        except ValueError:
            print(f"not a number: {row}")
            continue
        if abs(total - EXPECTED[row[0].strip()]) < 0.005:
            right += 1
        else:
            print(f"wrong total for {row[0]}: {total}")
    return right / len(EXPECTED)


Path(os.environ["SCORE_FILE"]).write_text(f"{score()}\n")
