#!/usr/bin/env python3
"""Mutation runner: proves that the test suite catches real bugs.

Applies the committed mutants of scripts/mutants.txt (small, plausible bugs) one at a time to a
scratch copy of the source tree, rebuilds lc_tests incrementally, runs the tests named for that
mutant, and reports which mutants the tests killed and which survived. The working tree is never
modified. Not part of CI (each mutant costs a rebuild); run it before resolving a bug and add a
mutant for every bug fixed.

  scripts/mutate.py --in-place build      # every mutant, in the tree and its existing build/ (fast:
                                          # one file recompiled and lc_tests relinked per mutant)
  scripts/mutate.py                       # the same in a scratch copy ($TMPDIR/lc-mutate-<repo>;
                                          # its first build is a full one)
  scripts/mutate.py --in-place build --only seg-probs-row-offset,trainer-restore-only-when-stopped
  scripts/mutate.py --list                # the mutants, checked against the tree (stale ones marked)
  scripts/mutate.py --in-place build --jobs 1 --report /tmp/mutants.md

Mutants file format (scripts/mutants.txt), one block per mutant:
  ## <id>
  file: <path relative to the repository root>
  tests: <gtest filter of the tests that must fail>
  why: <the bug, in words>
  <<<
  <original lines: must occur exactly once in the file>
  ===
  <mutated lines>
  >>>
Lines starting with '#' outside a block are comments.

Outcomes: killed (the tests failed or timed out), SURVIVED (they passed: add a test, or show the
mutant equivalent and remove it), stale (the original snippet is no longer in the file exactly
once: update the mutant), no-build (the mutant does not compile: fix the mutant). Before any
mutant runs, the union of all filters must pass on the unmutated tree. With --in-place, do not
edit or build the tree while it runs (each file is restored after its mutant, also on SIGTERM).
Exit status: 0 when every runnable mutant was killed, 1 otherwise.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_mutants(path):
    mutants, cur, mode, buf = [], None, None, []

    def finish(m, n):
        if not m["edits"]:
            sys.exit(f"{path}:{n}: mutant {m['id']} has no <<< ... >>> block")
        m["files"] = sorted({e[0] for e in m["edits"]})
        mutants.append(m)

    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        if mode in ("orig", "mut"):
            if line == "===" and mode == "orig":
                cur["original"], buf, mode = "\n".join(buf), [], "mut"
            elif line == ">>>" and mode == "mut":
                cur["edits"].append((cur["file"], cur.pop("original"), "\n".join(buf)))
                buf, mode = [], None
            else:
                buf.append(line)
            continue
        if line.startswith("## "):
            if cur is not None:
                finish(cur, n)
            cur = {"id": line[3:].strip(), "line": n, "edits": []}
        elif cur is not None and line == "<<<":
            for key in ("file", "tests", "why"):
                if key not in cur:
                    sys.exit(f"{path}:{n}: mutant {cur['id']} lacks '{key}:'")
            mode, buf = "orig", []
        elif cur is not None and ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            if key.strip() not in ("file", "tests", "why"):
                sys.exit(f"{path}:{n}: unknown key '{key.strip()}'")
            cur[key.strip()] = value.strip()
        elif line.strip() and not line.startswith("#"):
            sys.exit(f"{path}:{n}: unexpected line: {line}")
    if mode is not None:
        sys.exit(f"{path}: unterminated mutant block at the end")
    if cur is not None:
        finish(cur, len(lines))
    ids = [m["id"] for m in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit(f"{path}: duplicate mutant ids {sorted(dup)}")
    return mutants


def occurrences(text, snippet):
    return text.count(snippet) if snippet else 0


def tracked_files(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "-co", "--exclude-standard", "-z"],
                         check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(root, p))]


def sync_tree(src, dst):
    """Copies every tracked or untracked-but-not-ignored file of src into dst, rewriting only files
    whose content differs (unchanged files keep their mtime, so the rebuild stays incremental)."""
    os.makedirs(dst, exist_ok=True)
    for rel in tracked_files(src):
        a, b = os.path.join(src, rel), os.path.join(dst, rel)
        with open(a, "rb") as f:
            data = f.read()
        if os.path.exists(b):
            with open(b, "rb") as f:
                if f.read() == data:
                    continue
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copy2(a, b)


def run(cmd, cwd, timeout=None, env=None, log=None):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        rc, out = p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", (e.stdout or b"").decode(errors="replace")
    if log:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}  (rc {rc}, {time.time() - t0:.0f} s)\n{out[-4000:]}\n")
    return rc, out, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", default=os.path.join(ROOT, "scripts", "mutants.txt"))
    ap.add_argument("--work", help="scratch copy of the tree (default $TMPDIR/lc-mutate-<repo name>)")
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true", help="list the mutants and whether they apply; run nothing")
    ap.add_argument("--jobs", type=int, default=2, help="build parallelism (default 2)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for one mutant's tests (default 900)")
    ap.add_argument("--report", help="also write the Markdown table to this file")
    ap.add_argument("--in-place", metavar="BUILD_DIR",
                    help="mutate the working tree itself and build in BUILD_DIR (an existing build of it): no "
                         "scratch copy, no full build; every file is restored after its mutant (and on SIGTERM); "
                         "do not edit or build the tree while it runs")
    ap.add_argument("--prepare", action="store_true",
                    help="only copy the tree and build the libraries and landcover in the scratch tree (warm-up)")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="do not first check that the filters pass on the unmutated tree")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the `finally` below restores a mutated file.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    mutants = parse_mutants(args.mutants)
    if args.only:
        want = args.only.split(",")
        unknown = [w for w in want if w not in {m["id"] for m in mutants}]
        if unknown:
            sys.exit(f"unknown mutant ids: {unknown}")
        by_id = {m["id"]: m for m in mutants}
        mutants = [by_id[w] for w in want]  # in the order given
    for m in mutants:
        counts = []
        for file, original, _ in m["edits"]:
            path = os.path.join(ROOT, file)
            text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
            counts.append(occurrences(text, original))
        # 1 when every snippet occurs exactly once, else the first other count.
        m["count"] = next((c for c in counts if c != 1), 1)
    if args.list:
        for m in mutants:
            state = "ok" if m["count"] == 1 else f"STALE ({m['count']} occurrences)"
            print(f"{m['id']:40s} {','.join(m['files']):36s} {state:12s} {m['tests']}")
        print(f"{len(mutants)} mutants")
        return 0

    if args.in_place:
        src, build = ROOT, os.path.abspath(args.in_place)
        work = os.path.join(build, "mutate")
        os.makedirs(work, exist_ok=True)
        log = os.path.join(work, "mutate.log")
        env = dict(os.environ)
        print(f"mutating the working tree in place, building in {build}, log {log}", flush=True)
    else:
        work = args.work or os.path.join(os.environ.get("TMPDIR", "/tmp"), "lc-mutate-" + os.path.basename(ROOT))
        work = os.path.abspath(work)
        src, build = os.path.join(work, "src"), os.path.join(work, "src", "build")
        log = os.path.join(work, "mutate.log")
        print(f"scratch tree {src}, log {log}", flush=True)
        sync_tree(ROOT, src)
        env = dict(os.environ)
        # ccache hits across trees need a base directory above both (paths become relative).
        env.setdefault("CCACHE_BASEDIR", os.path.commonpath([ROOT, work]))
        if not os.path.exists(os.path.join(build, "build.ninja")):
            cfg = ["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DLC_WITH_CUDA=OFF",
                   "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
            if run(cfg, src, env=env, log=log)[0] != 0:
                sys.exit(f"configure failed: see {log}")
    if args.prepare:
        rc = run(["cmake", "--build", build, "--target", "landcover", "--", f"-j{args.jobs}"], src, env=env, log=log)[0]
        print("prepared" if rc == 0 else f"build failed: see {log}")
        return rc
    ninja = ["cmake", "--build", build, "--target", "lc_tests", "--", f"-j{args.jobs}"]
    tests = os.path.join(build, "tests", "lc_tests")
    rc, out, secs = run(ninja, src, env=env, log=log)
    if rc != 0:
        sys.exit(f"the unmutated tree does not build: see {log}")
    print(f"built the unmutated tree ({secs:.0f} s)", flush=True)
    runnable = [m for m in mutants if m["count"] == 1]
    if not args.skip_baseline and runnable:
        union = ":".join(sorted({f for m in runnable for f in m["tests"].split(":")}))
        rc, out, secs = run([tests, f"--gtest_filter={union}"], src, timeout=4 * args.timeout, env=env, log=log)
        if rc != 0:
            print(out[-3000:])
            sys.exit(f"the tests fail on the unmutated tree ({secs:.0f} s): fix them first")
        print(f"baseline: the mutants' tests pass on the unmutated tree ({secs:.0f} s)", flush=True)

    results = []
    for i, m in enumerate(mutants, 1):
        if m["count"] != 1:
            results.append((m, "stale", 0.0, f"snippet found {m['count']} times"))
            print(f"[{i}/{len(mutants)}] {m['id']}: stale", flush=True)
            continue
        saved = {}
        for file in m["files"]:
            with open(os.path.join(src, file), encoding="utf-8") as f:
                saved[file] = f.read()
        t0 = time.time()
        try:
            mutated = dict(saved)
            for file, original, new in m["edits"]:
                mutated[file] = mutated[file].replace(original, new, 1)
            for file, text in mutated.items():
                with open(os.path.join(src, file), "w", encoding="utf-8") as f:
                    f.write(text)
            rc, out, _ = run(ninja, src, env=env, log=log)
            if rc != 0:
                outcome, note = "no-build", "the mutant does not compile"
            else:
                rc, out, _ = run([tests, f"--gtest_filter={m['tests']}"], src, timeout=args.timeout, env=env, log=log)
                failed = []
                for ln in out.splitlines():
                    name = ln[13:].split(" ")[0].rstrip(",") if ln.startswith("[  FAILED  ] ") else ""
                    if "." in name and name not in failed:
                        failed.append(name)
                ran = "[==========]" in out and " ran." in out
                if rc == "timeout":
                    outcome, note = "killed", "timeout"
                elif rc != 0:
                    outcome, note = "killed", (", ".join(failed[:2]) + (" ..." if len(failed) > 2 else "")) or f"exit {rc}"
                elif not ran:
                    outcome, note = "SURVIVED", "no test ran: check the filter"
                else:
                    outcome, note = "SURVIVED", "every test passed"
        finally:
            for file, text in saved.items():
                with open(os.path.join(src, file), "w", encoding="utf-8") as f:
                    f.write(text)
        secs = time.time() - t0
        results.append((m, outcome, secs, note))
        print(f"[{i}/{len(mutants)}] {m['id']}: {outcome} ({secs:.0f} s) {note}", flush=True)
    run(ninja, src, env=env, log=log)  # leave the scratch build unmutated

    runnable = [r for r in results if r[1] in ("killed", "SURVIVED")]
    killed = sum(r[1] == "killed" for r in results)
    lines = ["| mutant | file | bug | tests | outcome |", "| --- | --- | --- | --- | --- |"]
    for m, outcome, secs, note in results:
        lines.append(f"| {m['id']} | {', '.join(m['files'])} | {m['why']} | `{m['tests']}` | {outcome}: {note} ({secs:.0f} s) |")
    summary = (f"{killed} of {len(runnable)} runnable mutants killed"
               + (f" ({100.0 * killed / len(runnable):.0f}%)" if runnable else "")
               + f"; {sum(r[1] == 'stale' for r in results)} stale, {sum(r[1] == 'no-build' for r in results)} no-build")
    table = "\n".join(lines) + "\n\n" + summary + "\n"
    print("\n" + table)
    if args.report:
        with open(args.report, "w") as f:
            f.write(table)
    ok = killed == len(runnable) and all(r[1] != "no-build" for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
