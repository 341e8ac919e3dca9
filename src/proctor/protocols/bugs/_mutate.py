"""The mutation engine: seed programs in, every distinct single-change mutant out.

Programs are shown in their `ast.unparse` form (comments dropped, layout normalised) whether clean or mutated, so
a judge cannot tell a mutant from its layout; line numbers refer to that form.
"""

from __future__ import annotations

import ast
import difflib
import itertools
from collections import Counter
from importlib import resources

from pydantic import BaseModel

from proctor.protocols.bugs._operators import FINDERS, OPERATORS, Applier, Site, SiteFinder, Tree
from proctor.protocols.bugs._runner import BugDatasetError
from proctor.protocols.bugs._variables import wrong_variable, wrong_variable_sites

_ALL: dict[str, tuple[SiteFinder, Applier]] = {**FINDERS, "wrong_variable": (wrong_variable_sites, wrong_variable)}


class SeedProgram(BaseModel):
    """A small, correct program with its tests: the material mutants are made from."""

    name: str
    """The seed's folder name, e.g. `binary_search`."""
    program: str
    """The source of `program.py` as written (with comments)."""
    tests: str
    """The source of `test_program.py`: plain `test_*` functions with asserts that import from `program`."""

    @property
    def shown(self) -> str:
        """The program as a judge sees it: `ast.unparse` of its tree."""
        return ast.unparse(ast.parse(self.program))


class Mutant(BaseModel):
    """One single-change version of a seed program."""

    seed: str
    """The seed program's name."""
    index: int
    """The site's position in `find_sites` order; stable for a given seed program."""
    operator: str
    """The mutation operator, one of `OPERATORS`."""
    source: str
    """The mutated program, as `ast.unparse` renders it."""
    lines: list[int]
    """1-based lines of `source` that differ from the clean program; for a removal, the lines around the gap."""
    description: str
    """What changed, e.g. "line 9: `while lo <= hi:` became `while lo < hi:`"."""


def load_seeds() -> list[SeedProgram]:
    """Every seed program shipped in `proctor/protocols/bugs/seeds/`, sorted by name.

    Raises:
        BugDatasetError: when a seed folder lacks `program.py` or `test_program.py`.
    """
    root = resources.files("proctor.protocols.bugs").joinpath("seeds")
    seeds = []
    for folder in sorted(root.iterdir(), key=lambda f: f.name):
        if not folder.is_dir() or folder.name.startswith(("_", ".")):
            continue
        program, tests = folder.joinpath("program.py"), folder.joinpath("test_program.py")
        if not (program.is_file() and tests.is_file()):
            raise BugDatasetError(
                f"seed {folder.name!r} needs program.py and test_program.py in {folder}: add them or remove the folder"
            )
        seeds.append(SeedProgram(name=folder.name, program=program.read_text(), tests=tests.read_text()))
    return seeds


def changed_lines(clean: str, mutated: str) -> list[int]:
    """1-based lines of `mutated` that differ from `clean`; a pure removal gives the lines either side of the gap."""
    old, new = clean.splitlines(), mutated.splitlines()
    lines: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            lines.update(range(j1 + 1, j2 + 1))
        elif tag == "delete":
            lines.update(line for line in (j1, j1 + 1) if 1 <= line <= len(new))
    return sorted(lines)


def _quote(node: ast.AST) -> str:
    text = ast.unparse(node).strip().splitlines()
    first = text[0] if text else ""
    return first if len(first) <= 90 else first[:87] + "..."


def _describe(operator: str, before: str, after: str, lines: list[int], removed: str) -> str:
    where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
    if removed:
        return f"{where}: removed {removed}"
    return f"{where}: `{before}` became `{after}`"


def _apply(tree: Tree, site: Site) -> tuple[str, str, str]:
    """Apply `site` to `tree` in place; return (context before, context after, what was removed or "")."""
    node = tree.nodes[site.node]
    _, apply = _ALL[site.operator]
    if site.operator == "drop_branch" and isinstance(node, ast.If):
        header = f"`if {_quote(node.test)}:`"
        if site.variant == 0:
            removed = f"the {header} block"
        elif site.variant == 1:
            elif_test = node.orelse[0].test if isinstance(node.orelse[0], ast.If) else node.test
            removed = f"the `elif {_quote(elif_test)}:` branch"
        else:
            removed = f"the `else` branch of {header}"
        apply(tree, node, site.variant)
        return "", "", removed
    if site.operator == "drop_return" and site.variant == 0:
        removed = f"the early `{_quote(node)}`"
        apply(tree, node, site.variant)
        return "", "", removed
    context = tree.context(node)
    before = _quote(context)
    apply(tree, node, site.variant)
    return before, _quote(context), ""


_CONSTANT_OPS = (ast.Sub, ast.FloorDiv, ast.Div, ast.Mod, ast.BitXor)
"""Operators that give a constant (0, 1, or an error) when both operands are the same expression."""


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a).replace("ctx=Store()", "ctx=Load()") == ast.dump(b).replace("ctx=Store()", "ctx=Load()")


def self_evident(module: ast.AST) -> Counter[str]:
    """The constructs of a program that are plainly wrong or pointless on sight, whatever the specification says:
    an expression compared with itself (`a.lower() != a.lower()`), a boolean operand repeated (`a == 0 or a ==
    0`), an expression minus, divided by, modulo or xor itself (`n % n`), an assignment of a name to itself
    (`hi = hi`, `x -= x`), an empty `range(x, x)` or slice `a[i:i]`, and a conditional whose branches agree."""
    return Counter(ast.unparse(node) for node in ast.walk(module) if _evident(node))


def _evident(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        return any(_same(a, b) for a, b in itertools.pairwise(sides))
    if isinstance(node, ast.BoolOp):
        return len({ast.dump(v) for v in node.values}) < len(node.values)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _CONSTANT_OPS) and _same(node.left, node.right)
    if isinstance(node, ast.Assign):
        return len(node.targets) == 1 and _same(node.targets[0], node.value)
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, _CONSTANT_OPS) and _same(node.target, node.value)
    if isinstance(node, ast.Slice):
        return node.lower is not None and node.upper is not None and _same(node.lower, node.upper)
    if isinstance(node, ast.IfExp):
        return _same(node.body, node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        return len(node.args) >= 2 and _same(node.args[0], node.args[1])
    return False


def gives_itself_away(clean: str, mutated: str) -> str | None:
    """The self-evident construct (see `self_evident`) the mutant has and the clean program has not, or None: such
    a mutant is found by reading one line, without the docstring, so it is not kept."""
    extra = self_evident(ast.parse(mutated)) - self_evident(ast.parse(clean))
    return next(iter(extra), None)


def find_sites(module: ast.Module) -> list[Site]:
    """Every mutation site of a parsed program, grouped by operator in `OPERATORS` order."""
    tree = Tree(module)
    sites: list[Site] = []
    for operator in OPERATORS:
        finder, _ = _ALL[operator]
        sites.extend(Site(operator, node, variant) for node, variant in finder(tree))
    return sites


def make_mutant(seed: SeedProgram, sites: list[Site], index: int, clean: str | None = None) -> Mutant | None:
    """The mutant made by applying `sites[index]` to `seed`, or None when it equals the clean program, does not
    compile, or gives itself away (`gives_itself_away`: `a.lower() != a.lower()` needs no specification to
    spot).

    Args:
        seed: The seed program.
        sites: `find_sites(ast.parse(seed.program))`.
        index: Which site to apply; becomes the mutant's `index`.
        clean: `seed.shown`, when the caller has it already.
    """
    clean = seed.shown if clean is None else clean
    site = sites[index]
    tree = Tree(ast.parse(seed.program))  # parsing afresh is several times faster than copy.deepcopy
    before, after, removed = _apply(tree, site)
    source = ast.unparse(tree.module)
    if source == clean:
        return None
    try:
        compile(source, "program.py", "exec")
    except SyntaxError:
        return None
    if gives_itself_away(clean, source) is not None:
        return None
    lines = changed_lines(clean, source)
    return Mutant(
        seed=seed.name,
        index=index,
        operator=site.operator,
        source=source,
        lines=lines,
        description=_describe(site.operator, before, after, lines, removed),
    )


def generate_mutants(seed: SeedProgram) -> list[Mutant]:
    """Every distinct mutant of `seed`: one per site, minus those identical to the clean program or to an earlier one
    and those that give themselves away.

    The order is deterministic (operators in `OPERATORS` order, then sites in tree order), so the same seed
    program always gives the same list.
    """
    clean = seed.shown
    sites = find_sites(ast.parse(seed.program))
    seen = {clean}
    mutants: list[Mutant] = []
    for index in range(len(sites)):
        mutant = make_mutant(seed, sites, index, clean)
        if mutant is not None and mutant.source not in seen:
            seen.add(mutant.source)
            mutants.append(mutant)
    return mutants
