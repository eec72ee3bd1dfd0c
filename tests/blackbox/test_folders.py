"""The folder layering (tests/tools/layering.py, docs/architecture.md):
no family includes a header of a higher layer, broker/ does not include
issuer/ headers, the CMake links follow the same table.  A source check: it
starts no binary."""
import shutil
import subprocess
import sys

from kbsutil import SRC

TOOL = SRC / "tests" / "tools" / "layering.py"
TREE = ("common", "issuer", "broker", "client", "kbs")


def layering(root):
    p = subprocess.run([sys.executable, str(TOOL), "--root", str(root)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    return p.returncode, p.stdout


def copy_tree(tmp_path):
    for d in TREE:
        shutil.copytree(SRC / d, tmp_path / d)
    return tmp_path


def add_include(path, header):
    text = path.read_text()
    path.write_text('#include "%s"\n%s' % (header, text))


def test_tree_is_layered():
    rc, out = layering(SRC)
    assert rc == 0, out
    assert out.rstrip().endswith("ok"), out


def test_family_including_a_higher_layer_fails(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "common" / "base" / "json.c", "jws.h")
    rc, out = layering(root)
    assert rc == 1, out
    assert ('common/base/json.c: #include "jws.h" is a header of common/jose, '
            'which common/base may not use') in out


def test_broker_including_issuer_fails(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "broker" / "resource.c", "issuer.h")
    rc, out = layering(root)
    assert rc == 1, out
    assert "broker/resource.c" in out and "issuer, which broker may not use" in out


def test_core_including_the_intel_module_fails(tmp_path):
    # broker/main.c (the program) may; the core's files may not.
    root = copy_tree(tmp_path)
    add_include(root / "broker" / "routes.c", "intel.h")
    rc, out = layering(root)
    assert rc == 1, out
    assert "broker/routes.c" in out


def test_upward_cmake_link_fails(tmp_path):
    root = copy_tree(tmp_path)
    cm = root / "common" / "jose" / "CMakeLists.txt"
    cm.write_text(cm.read_text().replace("PUBLIC kbs_base", "PUBLIC kbs_audit kbs_base"))
    rc, out = layering(root)
    assert rc == 1, out
    assert "kbs_jose links kbs_audit" in out


def test_duplicate_header_name_and_unknown_folder_fail(tmp_path):
    root = copy_tree(tmp_path)
    (root / "common" / "policy" / "json.h").write_text("/* shadow */\n")
    (root / "common" / "misc").mkdir()
    (root / "common" / "misc" / "x.c").write_text("int x;\n")
    rc, out = layering(root)
    assert rc == 1, out
    assert "common/policy/json.h: header name also in common/base" in out or \
        "common/base/json.h: header name also in common/policy" in out
    assert "common/misc/x.c: its folder common/misc is not in the layer table" in out
