#!/usr/bin/python3
"""The layering of kbs-c's folders (docs/architecture.md, "Folders and
layers"): which folder may include headers of which other folder, and
which CMake targets a family target may link.

Sources include headers by name (#include "jws.h") through the include
directories of the targets they link, so nothing but this check stops a
file from reaching up a layer.  It fails (exit 1) when
  - a .c or .h includes a header of a folder its own folder may not use
    (a family including a higher layer, broker/ including issuer/, common/
    including a program's header ...);
  - a family's CMakeLists.txt links a kbs_* target it may not use;
  - two folders hold headers of the same name (an include by name would
    then be ambiguous).

  tests/tools/layering.py [--root DIR] [-v]
"""
import argparse
import re
import sys
from pathlib import Path

# Folder -> the folders it may use directly.  Keep the order of the layers:
# a folder names only folders above it in this table.
ALLOWED = {
    "common/base": [],
    "common/db": ["common/base"],
    "common/jose": ["common/base"],
    "common/policy": ["common/base"],
    "common/net": ["common/base"],
    "common/net/tls": [],
    "common/audit": ["common/db"],
    "common/proto": ["common/jose"],
    "common/keys": ["common/jose"],
    "common/auth": ["common/jose", "common/db", "common/net"],
    "common/daemon": ["common/net", "common/audit", "common/keys"],
    # Families one program alone uses, in that program's folder.
    "issuer/tee": ["common/net"],
    "broker/store": ["common/db", "common/keys"],
    # Programs.
    "issuer": ["issuer/tee", "common/keys", "common/auth", "common/daemon",
               "common/proto", "common/policy"],
    "broker": ["broker/store", "common/auth", "common/daemon",
               "common/policy"],
    "broker/intel": ["broker", "common/proto"],
    "client": ["common/audit", "common/proto", "common/policy", "common/net"],
    "kbs": ["issuer", "broker", "broker/intel"],
}
# Files that are a program rather than part of their folder's library:
# kbs-broker's main.c wires the Intel module on top of the core, which
# itself must not know the module.
PROGRAM_FILES = {
    "broker/main.c": ["broker", "broker/intel"],
}
TARGET = {"common/" + f: "kbs_" + f for f in
          ("base", "db", "jose", "policy", "net", "audit", "proto", "keys",
           "auth", "daemon")}
TARGET.update({"issuer/tee": "kbs_tee", "broker/store": "kbs_store",
               "issuer": "kbs_issuer_core", "broker": "kbs_broker_core",
               "broker/intel": "kbs_intel", "client": "kbs_client_core"})
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
LINK = re.compile(r"target_link_libraries\(\s*(kbs_\w+)\s+(?:PUBLIC|PRIVATE|INTERFACE)"
                  r"([^)]*)\)", re.S)


def reach(folder):
    """Every folder `folder` may use: itself and what it reaches."""
    seen, todo = set(), [folder]
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo += ALLOWED[f]
    return seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=Path(__file__).resolve().parents[2], type=Path)
    ap.add_argument("-v", action="store_true", help="print every folder's uses")
    args = ap.parse_args()
    root = args.root
    errors = []
    # The header names, each in exactly one folder.
    owner = {}
    for folder in ALLOWED:
        d = root / folder
        if not d.is_dir():
            errors.append("%s: folder missing (update tests/tools/layering.py)" % folder)
            continue
        for h in sorted(d.glob("*.h")):
            if h.name in owner:
                errors.append("%s: header name also in %s" % (h.relative_to(root), owner[h.name]))
            owner[h.name] = folder
    # Every folder holding sources must be in the table.
    for top in ("common", "issuer", "broker", "client", "kbs"):
        for src in (root / top).rglob("*.[ch]"):
            folder = str(src.parent.relative_to(root))
            if folder not in ALLOWED:
                errors.append("%s: its folder %s is not in the layer table"
                              % (src.relative_to(root), folder))
    # Includes.
    for folder in ALLOWED:
        ok = reach(folder)
        used = set()
        for src in sorted((root / folder).glob("*.[ch]")):
            rel = str(src.relative_to(root))
            mine = ok
            if rel in PROGRAM_FILES:
                mine = set().union(*(reach(f) for f in PROGRAM_FILES[rel]))
            for name in INCLUDE.findall(src.read_text(errors="replace")):
                where = owner.get(Path(name).name)
                if where is None:
                    continue   # a generated or system-like header
                if rel not in PROGRAM_FILES:
                    used.add(where)
                if where not in mine:
                    errors.append('%s: #include "%s" is a header of %s, which %s may not use'
                                  % (src.relative_to(root), name, where, folder))
        if args.v:
            print("%-14s uses %s" % (folder, " ".join(sorted(used - {folder}))))
    # Link dependencies declared in CMake.
    by_target = {t: f for f, t in TARGET.items()}
    for folder in ALLOWED:
        cm = root / folder / "CMakeLists.txt"
        if not cm.is_file():
            continue
        for target, deps in LINK.findall(cm.read_text()):
            src_folder = by_target.get(target)
            if src_folder is None:
                continue
            for dep in re.findall(r"\bkbs_\w+", deps):
                dep_folder = by_target.get(dep)
                if dep_folder and dep_folder not in reach(src_folder):
                    errors.append("%s: %s links %s (%s), which %s may not use"
                                  % (cm.relative_to(root), target, dep, dep_folder, src_folder))
    for e in errors:
        print("layering: " + e)
    print("layering: %d folders, %s" % (len(ALLOWED), "%d violations" % len(errors) if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
