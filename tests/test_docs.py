"""The project stands alone: what it cites is in the repository, and docs/ matches the code.

* no tracked file cites a document that is not in the repository (a design note, a style
  guide, the original brief under ``seed/``, or an issue of this project's tracker by
  number), and every ``docs/NAME.md`` a file names exists;
* every relative link in README.md and docs/*.md points at a file that exists, and an
  ``#anchor`` into a Markdown file at one of its headings;
* docs/SCHEMA.md documents every table and column of ``finlib.warehouse.schema.TABLES``;
* every finlib function docs/METRICS.md and docs/ALERTS.md name exists.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

# A citation of something outside the repository. `owner/repo#123` and issue URLs of other
# projects are fine (they are public and say where they point).
# The design and style notes the project was started from live outside the repository; their
# file names are assembled here so that this check does not itself name them.
_NOTES = ("DESIGN", "STYLE")
OUTSIDE = [
    *((re.compile(rf"\b{n}\.md\b"), f"{n}.md") for n in _NOTES),
    (re.compile(r"(?<![\w./-])seed/"), "seed/"),
    (re.compile(r"\bissues?\s+#?\d+", re.IGNORECASE), "an issue number"),
]
DOC_MENTION = re.compile(r"\bdocs/([\w.-]+\.md)\b")
MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def tracked_text_files() -> dict[str, str]:
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    out = {}
    for name in filter(None, names):
        path = ROOT / name
        if name == SELF or not path.is_file():
            continue
        try:
            out[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
    return out


def test_no_tracked_file_cites_a_document_outside_the_repository():
    files = tracked_text_files()
    assert "README.md" in files and "docs/SCHEMA.md" in files  # the scan sees the repository
    problems = []
    for name, text in files.items():
        for lineno, line in enumerate(text.splitlines(), 1):
            for pattern, what in OUTSIDE:
                if pattern.search(line) and not (what.endswith(".md") and (ROOT / what).exists()):
                    problems.append(f"{name}:{lineno}: cites {what}: {line.strip()[:120]}")
            for m in DOC_MENTION.finditer(line):
                if not (ROOT / "docs" / m.group(1)).exists():
                    problems.append(f"{name}:{lineno}: docs/{m.group(1)} does not exist")
    assert not problems, "cite docs/ instead:\n" + "\n".join(problems)


def test_the_citation_check_catches_what_it_should():
    bad = [f"see {_NOTES[0]}.md", "(iss" "ue 3)", "Targets (Iss" "ue #4)", "the brief in seed/ says",
           f"{_NOTES[1]}.md"]
    good = ["docs/SCHEMA.md", "voila-dashboards/voila#1110", "https://github.com/x/y/issues/12",
            "--seed 42", "a data issue, reported"]
    assert all(any(p.search(s) for p, _ in OUTSIDE) for s in bad)
    assert not any(p.search(s) for s in good for p, _ in OUTSIDE)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    out, fenced = set(), False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            out.add(slug(m.group(1)))
    return out


def test_slug_matches_github():
    assert slug("`kpi_targets` — targets for headline figures") == "kpi_targets--targets-for-headline-figures"
    assert slug("Loading real exports: `finlib ingest`") == "loading-real-exports-finlib-ingest"


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.relative_to(ROOT).as_posix()
                                                      for p in (ROOT / "docs").glob("*.md"))])
def test_every_link_in_the_docs_points_at_something_that_exists(doc):
    path = ROOT / doc
    problems = []
    for target in MD_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not problems, f"{doc}: " + "; ".join(problems)


def test_schema_doc_covers_every_table_and_column():
    from finlib.warehouse.schema import TABLES

    text = (ROOT / "docs" / "SCHEMA.md").read_text(encoding="utf-8")
    sections = re.split(r"\n### ", text)
    missing = []
    for table in TABLES.values():
        section = next((s for s in sections if s.startswith(f"`{table.name}`")), None)
        if section is None:
            missing.append(f"table {table.name}")
            continue
        missing += [f"{table.name}.{c.name}" for c in table.columns if f"`{c.name}`" not in section]
    assert not missing, "docs/SCHEMA.md lacks: " + ", ".join(missing)


MODULES = {
    **{m: f"finlib.metrics.{m}" for m in ("core", "mrr", "retention", "product", "monitoring",
                                          "departments", "clv", "kpis", "facts")},
    **{m: f"finlib.models.{m}" for m in ("attribution", "churn", "forecast")},
    "metrics": "finlib.metrics", "models": "finlib.models", "finlib": "finlib",
}


def named_functions(text: str) -> set[str]:
    """Dotted names inside backticks whose first part is a finlib module (``mrr.arr``,
    ``models.churn.auc(...)``, ``finlib.metrics.core.roi``); table.column names are not."""
    out = set()
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)  # code blocks
    for span in re.findall(r"`([^`\n]+)`", text):
        for name in re.findall(r"\b[a-z_]+(?:\.[a-z_]\w*)+", span):
            if name.split(".")[0] in MODULES and not name.endswith((".md", ".py", ".yaml")):
                out.add(name)
    return out


def resolves(name: str) -> bool:
    first, *rest = name.split(".")
    obj = importlib.import_module(MODULES[first])
    for part in rest:
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:  # a submodule not imported by its package
            obj = importlib.import_module(f"{obj.__name__}.{part}")
        except (ImportError, AttributeError):
            return False
    return True


@pytest.mark.parametrize("doc", ["METRICS.md", "ALERTS.md"])
def test_every_function_the_catalogue_names_exists(doc):
    names = named_functions((ROOT / "docs" / doc).read_text(encoding="utf-8"))
    assert len(names) >= (40 if doc == "METRICS.md" else 5), sorted(names)
    missing = sorted(n for n in names if not resolves(n))
    assert not missing, f"docs/{doc} names functions finlib does not have: {missing}"
    assert not resolves("mrr.no_such_metric") and not resolves("models.no_such_module.x")
