"""``python -m jaxconcepts.pipeline [--jobs N] [--force] [STAGE ...]``: the DVC pipeline with up to
N stages running at once, recorded in ``dvc.lock`` as ``dvc repro`` records them.

``dvc repro`` runs one stage at a time. On a small CPU many stages leave a core idle (compiling,
Python, writing figures), so running two independent stages at once shortens the whole run; the
README has the measured times. This runner keeps DVC's own rules and records:

- the stages are the ones ``dvc.yaml`` defines, in its dependency order (a stage starts only when
  every stage it depends on has finished and been recorded);
- a stage runs when DVC says it changed (``Stage.changed``: its command, params, dependencies or
  outputs), checked just before it would start, after the stages upstream were recorded, so a
  stage whose inputs came out byte-identical is skipped as ``dvc repro`` skips it; ``--force``
  runs every selected stage;
- before a stage runs, DVC removes its outputs (``Stage.remove_outs``, as ``dvc repro``); after it
  succeeds, its outputs are saved to the DVC cache and its ``dvc.lock`` entry written
  (``Stage.save``, ``commit``, ``dump``: what ``dvc commit`` does for one stage), right after the
  slot it freed has been given to a ready stage that does not need it (hashing outputs takes
  seconds; the stages that need it start once it is recorded);
- only this process talks to DVC; the stages themselves are the plain commands of ``dvc.yaml``.

Among the stages ready to start, the one heading the longest remaining chain of stage times goes
first (the one-at-a-time run committed in ``reports/benchmarks/pipeline.json``, else this
checkout's last run, ``.dvc/tmp/run-seconds.json``): the long C2MF fits do not wait behind short
stages.

With N stages at once, each stage's BLAS (numpy's and scipy's OpenBLAS) gets ``cores // N`` threads
(:func:`stage_env`): OpenBLAS threads spin while they wait, so stages sharing the cores with a
thread per core each can burn them spinning when other work loads the machine (the README has
what it measured; the numbers a stage writes do not depend on it beyond float rounding). An
``OPENBLAS_NUM_THREADS`` already set wins.

Each stage's output goes to ``.dvc/tmp/run-logs/<stage>.log``; the terminal gets one line per
stage started, skipped or finished. When a stage fails, nothing new starts, the running stages
finish and are recorded, the failed stage's log tail is printed and the exit status is 1. With
targets, only they and the stages they depend on are considered. ``--jobs 1`` runs the stages
one at a time (as ``dvc repro``, with logs in files).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main", "run_pipeline", "stage_env"]

LOG_DIR = Path(".dvc") / "tmp" / "run-logs"
SECONDS = Path(".dvc") / "tmp" / "run-seconds.json"  # last run's time per stage (ordering only)
REFERENCE = Path("reports") / "benchmarks" / "pipeline.json"  # a measured run, for a fresh clone


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _select(graph, targets):
    """The stages to consider: the root ``dvc.yaml``'s (as a plain ``dvc repro``; the
    scoreboard's second pipeline, ``scoreboard/dvc.yaml``, runs only when named), or the targets
    and everything they depend on."""
    import networkx as nx

    by_name = {s.addressing: s for s in graph.nodes}
    if not targets:
        return {s for s in graph.nodes if Path(s.path).parent == Path(s.repo.root_dir)}
    unknown = [t for t in targets if t not in by_name]
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; stages: {sorted(by_name)}")
    chosen = set()
    for t in targets:  # edges point from a stage to the stages it depends on
        chosen |= {by_name[t]} | nx.descendants(graph, by_name[t])
    return chosen


def _seconds(root: Path, last_run: dict) -> dict:
    """Each stage's time alone: the reference run committed in the repository (one stage at a
    time), else this checkout's ``last_run`` (times beside another stage: longer); a stage in
    neither is estimated by :func:`_estimate`. Ordering only."""
    ref = (json.loads((root / REFERENCE).read_text()).get("stage_seconds", {})
           if (root / REFERENCE).is_file() else {})
    return {**last_run, **ref}


def _estimate(name: str, seconds: dict) -> float:
    """A stage's time: its own when known, else the median of the same stage on the other
    datasets (``extract@new`` like ``extract@objects``, ...), else 1 s."""
    if name in seconds:
        return float(seconds[name])
    same = sorted(float(v) for k, v in seconds.items()
                  if "@" in name and k.split("@")[0] == name.split("@")[0])
    return same[len(same) // 2] if same else 1.0


def _priorities(graph, stages, seconds):
    """Longest chain of stage seconds (:func:`_estimate`) from each stage to the end of the
    pipeline: among ready stages the one heading the longest remaining chain starts first."""
    import networkx as nx

    prio = {}
    for s in nx.topological_sort(graph):  # a stage comes before the stages it depends on
        if s in stages:
            own = _estimate(s.addressing, seconds)
            after = [prio[d] for d in graph.predecessors(s) if d in prio]  # stages needing s
            prio[s] = own + max(after, default=0.0)
    return prio


def run_pipeline(root=".", *, jobs: int = 2, force: bool = False, targets=()) -> int:
    """Run the pipeline of the DVC repository at ``root`` (module docstring); returns the exit
    status (0: every selected stage is up to date or ran and was recorded)."""
    if jobs < 1:
        raise SystemExit(f"--jobs={jobs} should be >= 1")
    root, cwd = Path(root).resolve(), os.getcwd()
    os.chdir(root)  # stage addresses (targets, logs, commits) are relative to the repository
    try:
        return _run(root, jobs=jobs, force=force, targets=targets)
    finally:
        os.chdir(cwd)


def stage_env(jobs: int, environ=None, cores: int | None = None) -> dict:
    """The environment of a stage run ``jobs`` at a time: ``environ`` (default ``os.environ``)
    with ``OPENBLAS_NUM_THREADS`` = ``cores // jobs`` (at least 1) unless it is already set."""
    env = dict(os.environ if environ is None else environ)
    cores = cores or os.cpu_count() or 1
    env.setdefault("OPENBLAS_NUM_THREADS", str(max(1, cores // jobs)))
    return env


def _run(root: Path, *, jobs: int, force: bool, targets) -> int:
    from dvc.repo import Repo

    from jaxconcepts._params import check_params, load_params

    if (root / "params.yaml").is_file():  # a bad combination fails before any stage starts
        check_params(load_params(root / "params.yaml"))
    repo = Repo(str(root))
    graph = repo.index.graph
    stages = _select(graph, list(targets))
    seconds_path = root / SECONDS
    last_run = json.loads(seconds_path.read_text()) if seconds_path.is_file() else {}
    seconds = _seconds(root, last_run)
    prio = _priorities(graph, stages, seconds)
    (root / LOG_DIR).mkdir(parents=True, exist_ok=True)
    env = stage_env(jobs)
    waiting, running, failed = set(stages), {}, None
    done: set = set()
    finished: list = []  # (stage, seconds): ended well, not yet recorded
    t_all = time.perf_counter()
    try:
        while waiting or running or finished:
            ready = sorted((s for s in waiting if not (set(graph.successors(s)) & stages) - done),
                           key=lambda s: -prio[s])
            for s in ready:
                if failed is not None or len(running) >= jobs:
                    break
                waiting.discard(s)
                if not _start(repo, s, root, force, running, env):
                    done.add(s)
            if finished:  # recorded once the free slot has a stage: it does not wait on hashing
                s, secs = finished.pop(0)
                _record(repo, s, secs, last_run)
                done.add(s)
                continue  # the stages waiting on it may start now
            if failed is not None and not running:
                break
            if not running:
                if waiting and not ready:  # cannot happen with a DAG; guard against a hang
                    raise RuntimeError("no stage can start: "
                                       f"{sorted(x.addressing for x in waiting)}")
                continue
            proc = _wait_any(running)
            s, fh, t0, log = running.pop(proc)
            fh.close()
            secs = time.perf_counter() - t0
            if proc.returncode != 0:
                failed = failed or (s, log, proc.returncode)
                _say(f"FAIL  {s.addressing} (exit {proc.returncode}, {secs:.0f} s)")
                continue
            finished.append((s, secs))
    except KeyboardInterrupt:
        for proc in running:
            proc.terminate()
        _say("interrupted: running stages stopped; finished stages are recorded in dvc.lock")
        return 130
    finally:
        seconds_path.write_text(json.dumps(last_run, indent=1, sort_keys=True))
    if failed is not None:
        _tell_failure(*failed)
        return 1
    _say(f"pipeline done in {time.perf_counter() - t_all:.0f} s ({jobs} at a time)")
    return 0


def _start(repo, s, root: Path, force: bool, running: dict, env: dict) -> bool:
    """Start stage ``s`` in a subprocess (its log under ``LOG_DIR``) into ``running``, after
    removing its outputs, as ``dvc repro`` does; False (nothing started) when it is unchanged
    and not forced."""
    with repo.lock:
        changed = force or bool(s.changed())
        if changed:
            s.remove_outs(ignore_remove=False, force=False)
    if not changed:
        _say(f"skip  {s.addressing} (unchanged)")
        return False
    log = root / LOG_DIR / f"{s.addressing.replace('/', '__')}.log"  # a/dvc.yaml:s
    fh = open(log, "w")
    _say(f"start {s.addressing}: {s.cmd}")
    proc = subprocess.Popen(s.cmd, shell=True, cwd=s.wdir, stdout=fh,  # as dvc
                            stderr=subprocess.STDOUT, env=env)
    running[proc] = (s, fh, time.perf_counter(), log)
    return True


def _record(repo, s, secs: float, last_run: dict) -> None:
    """``dvc commit`` of the one stage ``s`` that ended well (Repo.commit without re-reading
    every dvc.yaml): hash deps and outs, outs into the cache, its dvc.lock entry."""
    with repo.lock:
        s.save()
        s.commit()
        s.dump(update_pipeline=False)
    last_run[s.addressing] = round(secs, 1)
    _say(f"done  {s.addressing} ({secs:.0f} s)")


def _tell_failure(s, log: Path, rc: int) -> None:
    tail = log.read_text(errors="replace").splitlines()[-40:]
    print("\n".join(tail), file=sys.stderr)
    _say(f"stage {s.addressing} failed (exit {rc}); its full log: {log}")


def _wait_any(running) -> subprocess.Popen:
    while True:
        for proc in running:
            if proc.poll() is not None:
                return proc
        time.sleep(0.2)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", help="stages (default: all), e.g. report@photos")
    ap.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JAXCONCEPTS_JOBS", 2)),
                    help="stages running at once (default 2, or $JAXCONCEPTS_JOBS)")
    ap.add_argument("--force", "-f", action="store_true", help="run every selected stage")
    args = ap.parse_args(argv)
    sys.exit(run_pipeline(jobs=args.jobs, force=args.force, targets=args.targets))


if __name__ == "__main__":
    main()
