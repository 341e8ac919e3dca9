"""Gives a third of the score for each folder's count found in the submission (written to $SCORE_FILE)."""

import os
import re
from pathlib import Path

EXPECTED = {"alpha": 223, "beta": 9, "gamma": 7}

submission = os.environ.get("SUBMISSION", "")
found = {key: int(value) for key, value in re.findall(r"\b(alpha|beta|gamma)\s*=\s*(\d+)", submission)}
right = [key for key, value in EXPECTED.items() if found.get(key) == value]
print(f"right: {right}")
Path(os.environ["SCORE_FILE"]).write_text(f"{round(len(right) / len(EXPECTED), 4)}\n")
