"""A METR Task Standard family: integer arithmetic answered through the shell.

Each task asks for the value of one expression; the answer is scored exactly.
"""

from typing import TypedDict


class Task(TypedDict):
    expression: str
    answer: int


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks() -> dict[str, Task]:
        return {
            "add": {"expression": "48213 + 97466", "answer": 145679},
            "multiply": {"expression": "7919 * 6007", "answer": 47569433},
            "power_mod": {"expression": "(3 ** 41) % 1000003", "answer": pow(3, 41, 1000003)},
        }

    @staticmethod
    def get_instructions(t: Task) -> str:
        return (
            f"What is the value of the integer expression `{t['expression']}` (Python syntax)? "
            "You may use the shell to compute it. Submit only the integer, with no other text."
        )

    @staticmethod
    def get_permissions(t: Task) -> list[str]:
        return []

    @staticmethod
    def intermediate_score(t: Task) -> dict:
        # The answer written so far to answer.txt, if any, scored like a submission.
        try:
            with open("/home/agent/answer.txt") as f:
                written = f.read()
        except OSError:
            return {"score": 0.0, "message": {"answer.txt": "missing"}}
        score = TaskFamily.score(t, written)
        return {"score": score, "message": {"answer.txt": "right" if score else "wrong"}}

    @staticmethod
    def score(t: Task, submission: str) -> float:
        try:
            return 1.0 if int(submission.strip()) == t["answer"] else 0.0
        except ValueError:
            return 0.0
