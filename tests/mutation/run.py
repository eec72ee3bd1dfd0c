#!/usr/bin/python3
"""Mutation harness: weaken one security check at a time and see which
test notices.

    tests/mutation/run.py [--list FILE] [--dir DIR] [--both] [--check] [NAME...]

Each entry of tests/mutation/mutations.ini names a file, an exact piece of
its text and a replacement (docs/testing.md, "Mutation testing").  The
working tree (tracked and untracked files, as git sees them) is copied to
DIR/src (default build-mutate/ in the tree); DIR/base is a build of the
unchanged copy and DIR/mut the build each mutation is compiled into, so a
mutation costs an incremental rebuild.  Per mutation: apply, rebuild, run
the unit programs, then - unless a unit test already failed (--both runs
it anyway) - the black-box suite with -x (the entry's `tests` first).  A
failing test counts as the killer only if it fails again on the mutant
and passes on the unchanged build; a test that also fails there is
deselected and the suite resumed, so a flaky or broken test cannot hide
a survivor.  Prints one row per mutation; exits 1 if any mutation
survived, did not build or does not apply (the last two are defects of
the list, not kills).
"""
import argparse
import concurrent.futures
import configparser
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = "/usr/bin/python3"   # Debian's python: it sees python3-jwcrypto
FIELDS = {"file", "find", "replace", "breaks", "tests"}
UNIT_TIMEOUT = 600
UNIT_PARALLEL = 4
BLACKBOX_TIMEOUT = 3600


class Mutation:
    def __init__(self, name, sec):
        self.name = name
        unknown = set(sec) - FIELDS
        missing = {"file", "find", "replace", "breaks"} - set(sec)
        if unknown or missing:
            raise ValueError("%s: unknown fields %s, missing fields %s" %
                             (name, sorted(unknown), sorted(missing)))
        self.file = sec["file"]
        self.find = sec["find"]
        self.replace = sec["replace"]
        self.breaks = sec["breaks"]
        self.tests = sec.get("tests", "").split()

    def pattern(self):
        """The find text; any run of whitespace matches any run of
        whitespace, so a re-wrapped line still matches."""
        parts = self.find.split()
        if not parts:
            raise ValueError("%s: empty find" % self.name)
        return re.compile(r"\s+".join(re.escape(p) for p in parts))

    def apply(self, text):
        """The mutated text, or raise ValueError unless find matches once."""
        hits = list(self.pattern().finditer(text))
        if len(hits) != 1:
            raise ValueError("find text matches %d times in %s" %
                             (len(hits), self.file))
        m = hits[0]
        return text[:m.start()] + self.replace + text[m.end():]


def load(path):
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",),
                                   inline_comment_prefixes=None,
                                   empty_lines_in_values=False)
    cp.optionxform = str
    with open(path) as f:
        cp.read_file(f)
    return [Mutation(n, cp[n]) for n in cp.sections()]


def log(msg):
    print(msg, flush=True)


def run(cmd, cwd, env=None, timeout=None, stderr=subprocess.STDOUT):
    """(exit status, output); a timeout is status -1.  stderr goes with
    stdout unless told otherwise."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=stderr,
                           text=True, errors="replace")
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return -1, out + "\n(timed out after %ss)" % timeout


# ---- the scratch copy -----------------------------------------------------

def tree_files(root):
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                         cwd=root, check=True, stdout=subprocess.PIPE).stdout
    return sorted({f for f in out.decode().split("\0") if f})


def sync(src, dst):
    """Make dst hold exactly the files git sees in src.  Only files whose
    content differs are written (with a fresh mtime), so the builds in
    DIR stay incremental and a mutation left behind by an interrupted run
    is replaced and rebuilt."""
    files = tree_files(src)
    keep = set(files)
    for f in files:
        s, d = src / f, dst / f
        if not s.exists() and not s.is_symlink():
            continue   # deleted in the work tree but not yet in git
        if s.is_symlink():
            if d.is_symlink() and os.readlink(s) == os.readlink(d):
                continue
            if d.exists() or d.is_symlink():
                d.unlink()
            d.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(s), d)
            continue
        data = s.read_bytes()
        if d.is_file() and not d.is_symlink() and d.read_bytes() == data:
            shutil.copymode(s, d)
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        if d.is_symlink():
            d.unlink()
        d.write_bytes(data)
        shutil.copymode(s, d)
    for d in sorted(dst.rglob("*"), reverse=True):
        rel = d.relative_to(dst).as_posix()
        if d.is_dir() and not d.is_symlink():
            if not any(d.iterdir()):
                d.rmdir()
        elif rel not in keep:
            d.unlink()


def build(src, bdir, jobs, target=None):
    """(ok, output) of configuring (once) and building bdir (or one
    target of it)."""
    if not (bdir / "CMakeCache.txt").exists():
        rc, out = run(["cmake", "-S", str(src), "-B", str(bdir),
                       "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], cwd=src)
        if rc != 0:
            return False, out
    cmd = ["cmake", "--build", str(bdir), "-j%d" % jobs]
    if target:
        cmd += ["--target", target]
    rc, out = run(cmd, cwd=src)
    return rc == 0, out


def mirror_unit(path):
    """unit_jose_jws for common/jose/jws.c: the program testing that file."""
    p = Path(path)
    return "unit_%s_%s" % (p.parent.name, p.stem)


def first_error(out):
    for line in out.splitlines():
        if "error" in line.lower():
            return line.strip()[:160]
    return out.strip().splitlines()[-1][:160] if out.strip() else "?"


# ---- tests ----------------------------------------------------------------

class Suite:
    def __init__(self, src, base, mut):
        self.src, self.base, self.mut = src, base, mut
        self.env = dict(os.environ)
        self.env["KBS_SRC"] = str(src)
        self.env.setdefault("KBS_TESTVECTORS", str(src / "tests" / "vectors"))
        self.base_broken = set()   # black-box tests failing without a mutation

    def unit_programs(self, bdir):
        return sorted(p for p in (bdir / "tests").glob("unit_*")
                      if p.is_file() and os.access(p, os.X_OK))

    def unit_one(self, prog):
        """Names of the failed tests of one CUnit program ([] if it passed)."""
        # stdout alone: CUnit's "Test: ... ...FAILED" lines are not
        # interleaved with what a test prints to stderr.
        rc, out = run([str(prog)], cwd=self.src, env=self.env,
                      timeout=UNIT_TIMEOUT, stderr=subprocess.DEVNULL)
        if rc == 0:
            return []
        failed = re.findall(r"Test: (.*?) \.\.\.FAILED", out)
        return failed or ["exit %d" % rc]

    def unit(self, bdir):
        """{program: [failed tests]} over every unit program in bdir, run
        UNIT_PARALLEL at a time (most of their time is spent waiting)."""
        progs = self.unit_programs(bdir)
        with concurrent.futures.ThreadPoolExecutor(UNIT_PARALLEL) as ex:
            results = list(ex.map(self.unit_one, progs))
        return {p.name: f for p, f in zip(progs, results) if f}

    def confirm_unit(self, name):
        """A unit program that failed on the mutant kills it if it fails
        again there and passes on the unchanged build."""
        if self.unit_one(self.base / "tests" / name):
            log("    %s fails without the mutation too: ignored" % name)
            return False
        if not self.unit_one(self.mut / "tests" / name):
            log("    %s failed once on the mutant, then passed: flaky, "
                "ignored" % name)
            return False
        return True

    def unit_kills(self, mfile, all_programs=False):
        """{program: [failed tests]} of confirmed unit kills.  The
        programs named after the mutated module (unit_jose_jws for
        common/jose/jws.c) run first, and no new program starts after the
        first confirmed kill unless all_programs."""
        stem = "_" + Path(mfile).with_suffix("").name
        progs = sorted(self.unit_programs(self.mut),
                       key=lambda p: (not p.name.endswith(stem), p.name))
        kills = {}
        with concurrent.futures.ThreadPoolExecutor(UNIT_PARALLEL) as ex:
            futs = {ex.submit(self.unit_one, p): p for p in progs}
            for fut in concurrent.futures.as_completed(futs):
                if fut.cancelled():
                    continue
                failed = fut.result()
                name = futs[fut].name
                if failed and self.confirm_unit(name):
                    kills[name] = failed
                    if not all_programs:
                        for f in futs:
                            f.cancel()
        return kills

    def pytest(self, bdir, targets, deselect=()):
        """Node ids of the failed tests of one `pytest -x` run, [] if all
        passed; ["<no summary>"] if pytest did not get as far as one."""
        env = dict(self.env)
        env["KBS_BUILD"] = str(bdir)
        # test_mutation.py checks this list against the tree, which a
        # mutation changes on purpose.
        cmd = [PY, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider",
               "--ignore=tests/blackbox/test_mutation.py"]
        for d in deselect:
            cmd += ["--deselect", d]
        rc, out = run(cmd + list(targets), cwd=self.src, env=env,
                      timeout=BLACKBOX_TIMEOUT)
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
        if rc in (0, 5):   # 5: nothing collected (a hint that is gone)
            return []
        return failed or ["<no summary: exit %d> %s" % (rc, out.strip()[-300:])]

    def confirmed(self, node):
        """A black-box failure on the mutant is a kill if it repeats on the
        mutant and does not happen on the unchanged build."""
        if node.startswith("<"):
            # pytest ended without naming a failed test (a timeout, a
            # signal, a collection error): that is no kill.
            raise HarnessError(node)
        if self.pytest(self.base, [node]):
            self.base_broken.add(node)
            log("    %s fails without the mutation too: deselected" % node)
            return False
        if not self.pytest(self.mut, [node]):
            log("    %s failed once on the mutant, then passed: flaky, "
                "deselected" % node)
            self.base_broken.add(node)
            return False
        return True

    def blackbox(self, hints):
        """The first confirmed killing test, or None."""
        runs = [hints, ["tests/blackbox"]] if hints else [["tests/blackbox"]]
        for targets in runs:
            for _ in range(10):
                failed = self.pytest(self.mut, targets, sorted(self.base_broken))
                if not failed:
                    break
                if self.confirmed(failed[0]):
                    return failed[0]
        return None


# ---- one mutation ---------------------------------------------------------

class HarnessError(Exception):
    """A test run that ended without a verdict; the mutation is unjudged."""


def mutate_one(m, suite, src, jobs, both):
    """(result, detail) for one mutation; src is restored afterwards."""
    path = src / m.file
    for t in m.tests:
        if not (src / t.split("::")[0]).exists():
            return "does not apply", "no test file %s" % t
    try:
        orig = path.read_text()
        mutated = m.apply(orig)
    except (OSError, ValueError) as e:
        return "does not apply", str(e)
    path.write_text(mutated)
    try:
        # The unit program mirroring the file (tests/unit/common/jose/jws.c for
        # common/jose/jws.c) alone first: one compile and one link, where the
        # whole tree relinks some sixty programs.
        own = mirror_unit(m.file)
        if not both and (suite.base / "tests" / own).exists():
            ok, out = build(src, suite.mut, jobs, own)
            if not ok:
                return "build failed", first_error(out)
            failed = suite.unit_one(suite.mut / "tests" / own)
            if failed and suite.confirm_unit(own):
                return "killed", "unit: %s (%s)" % (own, "; ".join(failed[:3]))
        ok, out = build(src, suite.mut, jobs)
        if not ok:
            return "build failed", first_error(out)
        by = []
        unit = suite.unit_kills(m.file, both)
        if unit:
            by.append("unit: " + ", ".join(
                "%s (%s)" % (prog, "; ".join(tests[:3]) +
                             (" ..." if len(tests) > 3 else ""))
                for prog, tests in sorted(unit.items())))
        if not by or both:
            try:
                node = suite.blackbox(m.tests)
            except HarnessError as e:
                return "error", "black-box run ended without a summary: " + str(e)[:200]
            if node:
                by.append("black-box: " + node)
        if by:
            return "killed", "; ".join(by)
        return "SURVIVED", m.breaks
    finally:
        path.write_text(orig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="run only these mutations")
    ap.add_argument("--list", default=str(ROOT / "tests/mutation/mutations.ini"))
    ap.add_argument("--dir", default=os.environ.get("MUTATE_DIR",
                                                    str(ROOT / "build-mutate")))
    ap.add_argument("--both", action="store_true",
                    help="run the black-box suite even when a unit test killed")
    ap.add_argument("--check", action="store_true",
                    help="only check that every entry applies to the tree")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()

    muts = load(a.list)
    known = {m.name for m in muts}
    for n in a.names:
        if n not in known:
            sys.exit("no mutation named %s in %s" % (n, a.list))
    if a.names:
        muts = [m for m in muts if m.name in a.names]

    if a.check:
        bad = 0
        for m in muts:
            try:
                m.apply((ROOT / m.file).read_text())
            except (OSError, ValueError) as e:
                bad += 1
                log("%s: %s" % (m.name, e))
        log("%d of %d entries apply" % (len(muts) - bad, len(muts)))
        return 1 if bad else 0

    scratch = Path(a.dir).resolve()
    src, base, mutd = scratch / "src", scratch / "base", scratch / "mut"
    src.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    log("== copying %s to %s" % (ROOT, src))
    sync(ROOT, src)
    suite = Suite(src, base, mutd)
    log("== building the unchanged copy (%s)" % base)
    ok, out = build(src, base, a.jobs)
    if not ok:
        log(out[-3000:])
        sys.exit("the unchanged tree does not build")
    # The mutant build of an earlier run knows only the programs of its
    # day: building one new program by name ("--target") would fail there
    # before CMake looks at its globs again, so configure it afresh once.
    if (mutd / "CMakeCache.txt").exists():
        rc, out = run(["cmake", "-S", str(src), "-B", str(mutd)], cwd=src)
        if rc != 0:
            log(out[-3000:])
            sys.exit("the mutant build does not configure")
    fails = suite.unit(base)
    if fails:
        sys.exit("unit tests fail without any mutation: %s" % fails)
    log("== baseline: %d unit programs pass" % len(suite.unit_programs(base)))

    rows = []
    for i, m in enumerate(muts, 1):
        t = time.time()
        log("== [%d/%d] %s (%s)" % (i, len(muts), m.name, m.file))
        result, detail = mutate_one(m, suite, src, a.jobs, a.both)
        rows.append((m.name, result, detail, time.time() - t))
        log("   %s: %s (%.0f s)" % (result, detail, time.time() - t))
    # Leave DIR/mut built from the unchanged tree for the next run.
    build(src, mutd, a.jobs)

    w = max(len(r[0]) for r in rows) if rows else 4
    log("")
    log("%-*s  %-14s  %6s  %s" % (w, "mutation", "result", "time", "killed by / what it breaks"))
    for name, result, detail, secs in rows:
        log("%-*s  %-14s  %5.0fs  %s" % (w, name, result, secs, detail))
    bad = [r for r in rows if r[1] != "killed"]
    log("")
    log("%d mutations: %d killed, %d survived, %d did not build, "
        "%d do not apply, %d unjudged (%.0f min)" %
        (len(rows), len(rows) - len(bad),
         sum(r[1] == "SURVIVED" for r in rows),
         sum(r[1] == "build failed" for r in rows),
         sum(r[1] == "does not apply" for r in rows),
         sum(r[1] == "error" for r in rows), (time.time() - t0) / 60))
    if suite.base_broken:
        log("black-box tests that failed without a mutation or flaked: %s" %
            ", ".join(sorted(suite.base_broken)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
