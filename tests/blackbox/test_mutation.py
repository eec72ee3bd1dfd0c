"""The mutation list (tests/mutation/mutations.ini, `make mutate`) stays
true to the tree: every entry applies exactly once, so moving a listed
security check without moving its entry fails here, not an hour into a
mutation run.  Also the list's matching rules (docs/testing.md)."""
import importlib.util
import subprocess
import sys

import pytest

from kbsutil import SRC

RUN = SRC / "tests" / "mutation" / "run.py"


def runner():
    spec = importlib.util.spec_from_file_location("mutation_run", RUN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def entry(mod, **kw):
    sec = {"file": "x.c", "find": "a", "replace": "b", "breaks": "it"}
    sec.update(kw)
    return mod.Mutation("t", sec)


def test_every_entry_applies():
    p = subprocess.run([sys.executable, str(RUN), "--check"], cwd=SRC,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout
    assert " entries apply" in p.stdout


def test_names_are_unique_and_fields_known(tmp_path):
    mod = runner()
    names = [m.name for m in mod.load(RUN.with_name("mutations.ini"))]
    assert len(names) == len(set(names)) and len(names) >= 15
    bad = tmp_path / "bad.ini"
    bad.write_text("[x]\nfile = a\nfind = b\nreplace = c\nbreaks = d\n"
                   "tset = e\n")
    with pytest.raises(ValueError, match="tset"):
        mod.load(bad)
    dup = tmp_path / "dup.ini"
    dup.write_text("[x]\nfile = a\nfind = b\nreplace = c\nbreaks = d\n" * 2)
    with pytest.raises(Exception):
        mod.load(dup)


def test_whitespace_matches_any_whitespace():
    mod = runner()
    m = entry(mod, find="if (a ||  b) {", replace="if (0) {")
    assert m.apply("x;\n\tif (a ||\n\t    b) {\n") == "x;\n\tif (0) {\n"
    # Only whitespace is loose: a token written differently does not match.
    with pytest.raises(ValueError, match="0 times"):
        m.apply("if (a||b) {")


def test_find_must_match_exactly_once():
    mod = runner()
    m = entry(mod, find="f();", replace="g();")
    with pytest.raises(ValueError, match="2 times"):
        m.apply("f();\nf();\n")
    with pytest.raises(ValueError, match="0 times"):
        m.apply("h();\n")
