"""Checks the built binary, its saved output and the submitted checksum; writes the fraction right to $SCORE_FILE.

The binary is the agent's code: it runs as the agent, never as root, and only its output is compared here.
"""

import os
import subprocess
from pathlib import Path

WORKSPACE = Path("/home/agent")
EXPECTED = "app 2.7.1 checksum 549922"

checks = []
app = WORKSPACE / "app"
if app.is_file() and app.read_bytes()[:4] == b"\x7fELF":
    try:
        run = subprocess.run(
            [str(app)], capture_output=True, text=True, timeout=10, cwd=WORKSPACE, user=1000, group=1000, extra_groups=[]
        )
        checks.append(run.stdout.strip() == EXPECTED)
    except (OSError, subprocess.TimeoutExpired):
        checks.append(False)
else:
    print("app is missing or not a compiled program")
    checks.append(False)
result = WORKSPACE / "result.txt"
checks.append(result.is_file() and result.read_text(errors="replace").strip() == EXPECTED)
checks.append(os.environ.get("SUBMISSION", "").strip() == EXPECTED.split()[-1])
print(checks)
Path(os.environ["SCORE_FILE"]).write_text(f"{round(sum(checks) / len(checks), 4)}\n")
