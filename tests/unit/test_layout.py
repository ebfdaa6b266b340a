"""The tidy tree layout: every node placed, parents centred, no two edges cross, no recursion."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timens_lab.views.layout import tidy_layout


def forest_from_parents(parents: list[int | None]) -> tuple[list[int], dict[int, list[int]]]:
    """Node i's parent is parents[i] (always < i, or None for a root)."""
    roots = [i for i, p in enumerate(parents) if p is None]
    children: dict[int, list[int]] = {i: [] for i in range(len(parents))}
    for i, p in enumerate(parents):
        if p is not None:
            children[p].append(i)
    return roots, children


@st.composite
def forests(draw: st.DrawFn) -> list[int | None]:
    n = draw(st.integers(1, 45))
    parents: list[int | None] = [None]
    for i in range(1, n):
        parents.append(draw(st.one_of(st.none(), st.integers(0, i - 1))) if draw(
            st.integers(0, 9)) == 0 else draw(st.integers(0, i - 1)))
    return parents


def _orient(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> int:
    v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (v > 0) - (v < 0)


def _on_segment(a: tuple[float, float], b: tuple[float, float], p: tuple[float, float]) -> bool:
    return (min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))


def segments_cross(s: tuple[tuple[float, float], tuple[float, float]],
                   t: tuple[tuple[float, float], tuple[float, float]]) -> bool:
    """Textbook segment intersection (orientation tests), ignoring shared end points."""
    (a, b), (c, d) = s, t
    if {a, b} & {c, d}:
        return False
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return any(o == 0 and _on_segment(p, q, r) for o, (p, q, r) in
               ((o1, (a, b, c)), (o2, (a, b, d)), (o3, (c, d, a)), (o4, (c, d, b))))


@settings(max_examples=150, deadline=None, database=None)  # read-only checkouts (nobody)
@given(forests())
def test_no_two_edges_cross(parents: list[int | None]) -> None:
    """For random forests no pair of edges intersects anywhere but at a shared node."""
    roots, children = forest_from_parents(parents)
    pos = tidy_layout(roots, children)
    edges = [(pos[p], pos[c]) for p, kids in children.items() for c in kids]
    for s, t in itertools.combinations(edges, 2):
        assert not segments_cross(s, t), (s, t)


@settings(max_examples=150, deadline=None, database=None)  # read-only checkouts (nobody)
@given(forests())
def test_geometry(parents: list[int | None]) -> None:
    """Every node is placed once, y is minus the depth, parents sit over their children's
    midpoint, and no two nodes share a position."""
    roots, children = forest_from_parents(parents)
    pos = tidy_layout(roots, children)
    assert set(range(len(parents))) == set(pos)
    for i, parent in enumerate(parents):
        depth, up = 0, parent
        while up is not None:
            depth, up = depth + 1, parents[up]
        assert -float(depth) == pos[i][1]
    for node, kids in children.items():
        if kids:
            assert (pos[kids[0]][0] + pos[kids[-1]][0]) / 2 == pos[node][0]
    assert len(set(pos.values())) == len(pos)


def test_crossing_check_catches_a_bad_layout() -> None:
    """Swapping two cousins in a correct layout makes their edges cross: the check can fail."""
    roots, children = ["r"], {"r": ["a", "b"], "a": ["a1", "a2"], "b": ["b1", "b2"]}
    pos = tidy_layout(roots, children)
    pos["a2"], pos["b1"] = pos["b1"], pos["a2"]
    assert segments_cross((pos["a"], pos["a2"]), (pos["b"], pos["b1"]))


def test_leaves_take_consecutive_slots_and_roots_are_apart() -> None:
    """Leaves fill slots 0, 1, 2 ... in order, with ``gap`` free slots between two roots."""
    roots, children = ["a", "d"], {"a": ["b", "c"], "d": ["e"]}
    pos = tidy_layout(roots, children, gap=2.0)
    assert pos == {"b": (0.0, -1.0), "c": (1.0, -1.0), "a": (0.5, 0.0),
            "e": (4.0, -1.0), "d": (4.0, 0.0)}


def test_deep_chain_is_iterative() -> None:
    """A 20,000-deep chain lays out without hitting the recursion limit."""
    n = 20_000
    children = {i: [i + 1] for i in range(n - 1)}
    pos = tidy_layout([0], children)
    assert (0.0, -float(n - 1)) == pos[n - 1]
    assert {0.0} == {x for x, _ in pos.values()}


@pytest.mark.parametrize(("roots", "children"), [
    (["a"], {"a": ["b"], "b": ["a"]}),           # a cycle
    (["a"], {"a": ["b", "c"], "c": ["b"]}),      # b has two parents
    (["a", "a"], {}),                           # the same root twice
])
def test_not_a_tree_is_refused(roots: list[str], children: dict[str, list[str]]) -> None:
    """A node reachable twice raises ValueError instead of looping or double-placing."""
    with pytest.raises(ValueError, match="reachable twice"):
        tidy_layout(roots, children)
