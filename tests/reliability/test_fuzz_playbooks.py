"""Playbook fuzzing through `load_project` and `cadenza validate`: hostile projects end in
diagnostics, never in a traceback.

tests/grammar/test_fuzz.py already mutates the examples byte-wise and feeds random bytes to
the parser and compiler. This file goes further along the paths users run: whole project
folders on disk through `load_project` (settings file, templates, every file), and the CLI
(`cadenza validate`, with CADENZA_DEBUG=1 so a bug raises instead of being reported), with
mutations a byte fuzzer rarely finds: token-level edits (insert, delete, swap, duplicate a
token of the language), truncation at a token, control and invisible characters, nesting a
thousand levels deep, and mutated Liquid templates and cadenza.toml files.

`test_seeded_trial` runs a fixed, seeded batch and prints its table (`-s`); that is the
trial docs/reliability.md quotes.
"""

from __future__ import annotations

import functools
import random
import re
import shutil
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadenza.engine.cli.main import main as cadenza
from cadenza.grammar.diagnostics import Diagnostic, Span
from cadenza.grammar.parser import MAX_FILE_BYTES
from cadenza.playbooks.project import LoadedProject, load_project, play_files
from cadenza.playbooks.templates import _error_span, analyse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][\w.]*|\d+[\w:.]*|\s+|->|>=|<=|==|!=|.',
                   re.DOTALL)
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\r", "\t",
           "\u00a0", "\u200b", "\u2028", "\u202e", "\ufeff", "\ufffd", "\U0001f600"]
MUTATIONS = ("insert", "delete", "swap", "duplicate", "truncate", "control", "nest")


@functools.cache
def projects() -> tuple[Path, ...]:
    return tuple(p for p in sorted(EXAMPLES.iterdir()) if p.is_dir() and play_files(p))


@functools.cache
def tokens_of(path: Path) -> tuple[str, ...]:
    return tuple(TOKEN.findall(path.read_text("utf-8")))


@functools.cache
def vocabulary() -> tuple[str, ...]:
    """Every distinct non-blank token of the examples: the words mutations insert."""
    words = {tok for p in projects() for f in play_files(p) for tok in tokens_of(f)}
    return tuple(sorted(w for w in words if w.strip()))


def mutate(tokens: list[str], kind: str, rng: random.Random) -> str:
    """`tokens` with one mutation of `kind` applied, as text."""
    n = len(tokens)
    i, j = sorted((rng.randrange(n), rng.randrange(n)))
    match kind:
        case "insert":
            tokens.insert(i, rng.choice([*vocabulary(), " ", "\n"]))
        case "delete":
            del tokens[i:j + 1 if rng.random() < 0.3 else i + 1]
        case "swap":
            tokens[i], tokens[j] = tokens[j], tokens[i]
        case "duplicate":
            tokens[i:i] = tokens[i:min(n, i + rng.randint(1, 40))]
        case "truncate":
            del tokens[i:]
        case "control":
            tokens.insert(i, rng.choice(CONTROL) * rng.choice([1, 1, 3, 1000]))
        case _:  # nest, at the start of a line (never inside a comment)
            starts = [k + 1 for k, tok in enumerate(tokens) if tok.endswith("\n")] or [0]
            depth = rng.choice([50, 300, 1000, 5000])
            tokens.insert(rng.choice(starts), rng.choice(
                ["{", "(", "[", "not ", "branch {", "when event e {"]) * depth)
    return "".join(tokens)


@dataclass
class Outcome:
    refused: bool  # at least one error diagnostic
    codes: Counter[str]


def well_formed(diagnostics: list[Diagnostic]) -> None:
    """Each diagnostic has a code, a position and a sentence (what users see)."""
    for d in diagnostics:
        assert re.fullmatch(r"[EW]\d{3}", d.code), d
        assert d.span.line >= 1, d
        assert d.span.col >= 1, d
        assert d.message, d
        assert d.message[-1] in ".?", d.message


def load(root: Path) -> LoadedProject:
    loaded = load_project(root)
    well_formed(loaded.diagnostics)
    assert loaded.ok == (not loaded.errors())
    return loaded


def copy_project(source: Path, into: Path) -> Path:
    root = into / source.name
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("data"))
    return root


def outcome(loaded: LoadedProject) -> Outcome:
    return Outcome(refused=bool(loaded.errors()),
                   codes=Counter(d.code for d in loaded.diagnostics if d.is_error))


def mutated_project(tmp: Path, rng: random.Random, kind: str) -> Path:
    """A copy of an example project with one .play file mutated."""
    root = copy_project(rng.choice(projects()), tmp)
    target = rng.choice(play_files(root))
    tokens = list(tokens_of(EXAMPLES / root.name / target.relative_to(root)))
    target.write_text(mutate(tokens, kind, rng), "utf-8", errors="surrogatepass")
    return root


# ------------------------------------------------------------------ the seeded trial
def run_trial(tmp: Path, per_kind: int, seed: int = 9,
              loader: Callable[[Path], LoadedProject] = load) -> dict[str, Counter[str]]:
    """`per_kind` mutated projects per mutation kind; per kind: tried, refused, accepted and
    crashed (a traceback, kept in `crashes`)."""
    rng = random.Random(seed)
    table: dict[str, Counter[str]] = {}
    for kind in MUTATIONS:
        counts: Counter[str] = Counter()
        for _ in range(per_kind):
            root = mutated_project(tmp, rng, kind)
            counts["tried"] += 1
            try:
                result = outcome(loader(root))
            except Exception:  # the trial's finding: kept, printed, and failed on below
                CRASHES.append(f"{kind} on {root.name}:\n{traceback.format_exc()}")
                counts["crashed"] += 1
                continue
            counts["refused" if result.refused else "accepted"] += 1
        table[kind] = counts
    return table


CRASHES: list[str] = []


def print_table(table: dict[str, Counter[str]]) -> None:
    print("\n| mutation | projects tried | refused (errors) | still valid | tracebacks |")
    print("|---|---:|---:|---:|---:|")
    for kind, c in table.items():
        print(f"| {kind} | {c['tried']} | {c['refused']} | {c['accepted']} | {c['crashed']} |")
    total = sum((c for c in table.values()), Counter())
    print(f"| all | {total['tried']} | {total['refused']} | {total['accepted']} | "
          f"{total['crashed']} |")


def test_seeded_trial(tmp_path: Path) -> None:
    """A fixed batch of mutated example projects through load_project: 0 tracebacks, every
    deeply nested project refused with diagnostics."""
    CRASHES.clear()
    table = run_trial(tmp_path, per_kind=20)
    print_table(table)
    assert not CRASHES, "\n".join(CRASHES)
    assert all(c["tried"] == 20 for c in table.values())
    # Deep nesting at a line start is never a valid playbook: a parser that silently
    # accepted it would be as wrong as one that crashed.
    assert table["nest"]["refused"] == 20
    assert table["truncate"]["refused"] >= 10  # cutting a file mostly breaks it


def test_the_trial_reports_a_crashing_loader(tmp_path: Path) -> None:
    """The trial catches a loader that raises (a deliberately broken one) and counts it."""
    def broken(root: Path) -> LoadedProject:
        raise RecursionError("maximum recursion depth exceeded")
    CRASHES.clear()
    table = run_trial(tmp_path, per_kind=1, loader=broken)
    assert sum(c["crashed"] for c in table.values()) == len(MUTATIONS)
    assert "RecursionError" in CRASHES[0]
    CRASHES.clear()


# ------------------------------------------------------------------ hypothesis
@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """One folder for all of a property test's examples (each replaces its files)."""
    return tmp_path


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # files are replaced
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(MUTATIONS))
def test_token_mutations_end_in_diagnostics(workdir: Path, seed: int, kind: str) -> None:
    """Hypothesis-chosen token mutations of the examples load without raising."""
    load(mutated_project(workdir, random.Random(seed), kind))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400) | st.lists(st.sampled_from(
    ["playbook", "p", "{", "}", "when", "event", "send", "email", '"t"', "wait", "1d",
     "->", "branch", "segment", "=", "and", "not", "(", ")", "\n", " ", "#", "stage"]),
    max_size=80).map(" ".join))
def test_random_text_projects_end_in_diagnostics(workdir: Path, text: str) -> None:
    """A project whose only playbook file is random text (or random keywords) never raises."""
    root = workdir / "random"
    root.mkdir(exist_ok=True)
    (root / "main.play").write_text(text, "utf-8", errors="surrogatepass")
    loaded = load(root)
    assert loaded.ok or loaded.errors()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.sampled_from(["{{", "{% if %}", "{% for x in %}", "{{ a | }}", "{% endif %}",
                             "{{ event.", "---\nsubject: {{", "---\n---\n", "\x00", "{% raw %}",
                             "{{ first_name | truncate: 'x' }}", "{% include 'x' %}"]),
       cut=st.floats(0, 1))
def test_mutated_templates_end_in_diagnostics(workdir: Path, junk: str, cut: float) -> None:
    """Liquid templates with broken tags, cut front matter or NULs are diagnosed."""
    root = copy_project(EXAMPLES / "cart_recovery", workdir)
    template = sorted((root / "templates").glob("*.liquid"))[0]
    text = template.read_text("utf-8")
    at = int(len(text) * cut)
    template.write_text(text[:at] + junk + text[at:], "utf-8")
    load(root)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(toml=st.sampled_from([
    "[project", "[project]\nname = 5", "[project]\ntimezone = 'Mars/Base'", "project = 3",
    "[project]\nunknown = true", "\x00", "[project]\nname = '''", "[[project]]",
    "[project]\ntimezone = ''", "a = 1\na = 2"]) | st.text(max_size=120))
def test_broken_settings_files_end_in_diagnostics(workdir: Path, toml: str) -> None:
    """cadenza.toml that is not TOML, or names unknown keys or zones, is diagnosed."""
    root = copy_project(EXAMPLES / "cart_recovery", workdir)
    (root / "cadenza.toml").write_text(toml, "utf-8", errors="surrogatepass")
    load(root)


# ------------------------------------------------------------------ the CLI
def test_cadenza_validate_reports_instead_of_raising(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`cadenza validate` over one mutated project per kind exits 0 or 1 with diagnostics;
    CADENZA_DEBUG=1 makes an internal error raise here instead of being reported."""
    monkeypatch.setenv("CADENZA_DEBUG", "1")
    rng = random.Random(21)
    for kind in MUTATIONS:
        root = mutated_project(tmp_path / kind, rng, kind)
        for args in (["validate", str(root)], ["validate", "--format", "json", str(root)]):
            code = cadenza(args)
            out = capsys.readouterr()
            assert code in (0, 1), (kind, out.err)
            assert "Traceback" not in out.out + out.err
            assert "internal error" not in out.err


def test_oversized_playbook_file_is_one_diagnostic(tmp_path: Path) -> None:
    """A playbook file past the parser's size cap is refused with a diagnostic."""
    root = tmp_path / "big"
    root.mkdir()
    (root / "main.play").write_bytes(b"# " + b"x" * (MAX_FILE_BYTES + 1))
    loaded = load(root)
    assert [d.file for d in loaded.errors()] == [str(root / "main.play")]


# ------------------------------------------------------------------ regressions
def test_liquid_error_at_the_end_has_a_real_column() -> None:
    """Found by this fuzzer: Liquid's end-of-input token has index -1, which gave E037 a
    negative column; it now points at the end of the template."""
    _, error = analyse("a\nb {{ a | }}")
    assert error is not None
    assert _error_span("a\nb {{ a | }}", error, 1) == Span.point(2, 12)  # after "}}"


def test_include_of_a_missing_template_is_a_diagnostic(tmp_path: Path) -> None:
    """Found by this fuzzer: `{% include 'x' %}` raised TemplateNotFoundError out of
    load_project (`cadenza validate` reported an internal error); now E037."""
    root = copy_project(EXAMPLES / "cart_recovery", tmp_path)
    template = sorted((root / "templates").glob("*.liquid"))[0]
    template.write_text(template.read_text("utf-8") + "{% include 'x' %}\n", "utf-8")
    loaded = load(root)
    assert [d.code for d in loaded.errors()] == ["E037"]
    assert loaded.errors()[0].message.endswith(
        "does not compile: it includes 'x', and templates cannot include other templates.")
