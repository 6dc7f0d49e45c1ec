"""No code here waits without a time limit for a process, a thread or a barrier (the CI was once killed after an hour
stalled on one test): every subprocess call, `communicate`, `wait` and `join` says how long it may take."""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator

from tests.paths import REPO

SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output"}
CHECKED = ("pipelines", "catalog", "benchmarks", "tests", "domains")


def endless_waits(source: str) -> Iterator[int]:
    """The lines of `source` that wait with no time limit: a subprocess call or `communicate` without `timeout`,
    and a `wait()` or `join()` without one (an awaitable handed to `asyncio.wait_for` is bounded by it)."""
    tree = ast.parse(source)
    bounded = {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("wait_for") and node.args
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, keywords = node.func.attr, {k.arg for k in node.keywords}
        if ast.unparse(node.func.value) == "subprocess" and name in SUBPROCESS_CALLS:
            endless = "timeout" not in keywords
        elif name == "communicate":
            endless = "timeout" not in keywords and len(node.args) < 2
        elif name in ("wait", "join"):
            endless = not node.args and not node.keywords and id(node) not in bounded
        else:
            continue
        if endless:
            yield node.lineno


def test_the_checker_finds_each_kind_of_endless_wait() -> None:
    source = """
subprocess.run(["a"])
subprocess.check_output(["a"], timeout=5)
process.communicate()
process.communicate(None, 5)
process.wait()
process.wait(5)
thread.join()
", ".join(names)
await asyncio.wait_for(event.wait(), 5)
await event.wait()
"""
    assert list(endless_waits(source)) == [2, 4, 6, 8, 11]


def test_every_wait_in_the_code_and_its_tests_has_a_time_limit() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *(f"{d}/*.py" for d in CHECKED)],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    found = [
        f"{name}:{line}"
        for name in listed
        if (REPO / name).is_file()
        for line in endless_waits((REPO / name).read_text())
    ]
    assert found == [], "waits without a time limit (give each a timeout): " + ", ".join(found)
