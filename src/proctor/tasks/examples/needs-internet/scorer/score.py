"""Checks that page.html is the fetched page and the submission is its title; the score goes to $SCORE_FILE."""

import os
from pathlib import Path

page = Path("/home/agent/page.html")
text = page.read_text(errors="replace") if page.is_file() else ""
fetched = "<title>Example Domain</title>" in text and "</html>" in text.lower()
titled = os.environ.get("SUBMISSION", "").strip() == "Example Domain"
print(f"fetched={fetched} titled={titled}")
Path(os.environ["SCORE_FILE"]).write_text(f"{1.0 if fetched and titled else 0.5 if fetched or titled else 0.0}\n")
