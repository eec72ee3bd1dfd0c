"""The layering of the tree (tests/tools/depgraph.py, `make layers`): no two
files of broker/, issuer/, client/ or common/ depend on each other,
directly or round a loop; the Intel module (broker/intel/) uses the broker
core only through broker.c's accessors and authz.c, and no file of the core
uses it; a /kbs/v1 transfer never goes back into a file up its call stack.
A source check: it starts no binary."""
import re
import subprocess
import sys

import pytest

from kbsutil import SRC

TOOL = SRC / "tests" / "tools" / "depgraph.py"


def graph(*args, cwd=SRC):
    p = subprocess.run([sys.executable, str(TOOL), *args], cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    return p.returncode, p.stdout


def edges(out):
    return [tuple(m.groups()) for m in
            re.finditer(r"^(\S+)\s+->\s+(\S+)\s+\d+ refs", out, re.M)]


@pytest.mark.parametrize("folder", ["broker", "issuer", "client", "common"])
def test_no_loop(folder):
    rc, out = graph("--dir", folder, "--check")
    assert rc == 0, out
    assert "loops: 0 groups, 0 files in them, 0 mutual pairs" in out


def test_check_fails_on_a_loop(tmp_path):
    (tmp_path / "a.c").write_text("int\nkbs_a(void)\n{\n\treturn kbs_b();\n}\n")
    (tmp_path / "b.c").write_text("int\nkbs_b(void)\n{\n\treturn 0;\n}\n\n"
                                  "int\nkbs_c(void)\n{\n\treturn kbs_a();\n}\n")
    (tmp_path / "c.c").write_text("static int\nkbs_b(void)\n{\n\treturn 1;\n}\n")
    rc, out = graph("--dir", str(tmp_path), "--check")
    assert rc == 1, out
    assert "mutual: a.c <-> b.c" in out
    # c.c's static kbs_b is its own, not a use of b.c's.
    assert ("c.c", "b.c") not in edges(out)


def test_intel_module_is_on_top_of_the_core():
    rc, out = graph("--dir", "broker")
    assert rc == 0, out
    pairs = edges(out)
    assert pairs, out
    programs = {"main.c", "kbs_main.c"}
    for a, b in pairs:
        # broker/store/ is the store family (kbs_store), a library under
        # both the core and the module, like common/.
        if a.startswith("intel/") and not b.startswith(("intel/", "store/")):
            assert b in ("broker.c", "authz.c"), (a, b)
        if not a.startswith("intel/") and a not in programs:
            assert not b.startswith("intel/"), (a, b)


def test_transfer_never_reenters():
    rc, out = graph("--dir", "broker", "--trace", "handle>kbs_intel_transfer")
    assert rc == 0, out
    m = re.search(r"crossings: (\d+) calls .*?, (\d+) of them back", out)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) == 0, out
    assert "intel/transfer.c:judge -> broker.c:kbs_broker_trust" in out
