"""A set of files (deploy's four outputs, a certificate's four reports) killed between two renames: SIGKILL cannot be
held back, and it left a new model.onnx beside the earlier deployment's deploy.json (a PASS for a model never
checked), with the kept links that could have restored it removed by the next deploy. write_set now records the set
in a journal first, and the folder's next writer makes it one set again (spec.atomic.recover)."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import pytest
from tests_support import KILLED, killed_after_renames

from lockstep.certificate import Certificate
from lockstep.errors import LockstepError
from lockstep.runfolder import CERTIFY_OUTPUTS, RUN_OUTPUTS, TRASH_PREFIX, claim
from lockstep.spec import atomic

NAMES = ("a", "b", "c")


def _files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def _killed_set(folder: Path, renames: int, old: bool = True) -> None:
    """a, b, c ("old", unless `old` is False: none) half replaced by "new": killed after `renames` renames."""
    folder.mkdir(exist_ok=True)
    if old:
        for name in NAMES:
            (folder / name).write_text("old")
    code = (f"from pathlib import Path\nfrom lockstep.spec import atomic\n"
            f"atomic.write_set({{Path({str(folder)!r}) / n: b'new' for n in {NAMES!r}}})\n")
    done = killed_after_renames(renames, code)
    assert done.returncode == KILLED, done.stderr
    assert (folder / atomic.JOURNAL).is_file()


@pytest.mark.parametrize("renames", [0, 1, 2, 3])
def test_a_set_killed_between_two_renames_is_finished_by_the_next_write(tmp_path: Path, renames: int) -> None:
    """Each staged file was whole and fsynced before the journal was written: the set is finished (all new) by
    recover, which the next writer of the set calls first (write_set itself: nothing of the killed write is left)."""
    _killed_set(tmp_path, renames)
    shown = {n: (tmp_path / n).read_text() for n in NAMES}
    assert list(shown.values()).count("new") == renames, shown  # the kill did split it (1, 2)
    atomic.write_set({tmp_path / n: b"newer" for n in NAMES})
    assert _files(tmp_path) == dict.fromkeys(NAMES, "newer")  # no journal, temporary or kept link of the killed one
    _killed_set(tmp_path, renames)
    assert atomic.recover(tmp_path, NAMES) == ("finished a write of a, b, c that was killed part-way: all are the "
                                               "new files")
    assert _files(tmp_path) == dict.fromkeys(NAMES, "new")


@pytest.mark.parametrize("old", [True, False])
def test_a_set_that_cannot_be_finished_is_rolled_back(tmp_path: Path, old: bool) -> None:
    """A staged file gone (removed by an older Lockstep's clean-up, or by hand): the renamed ones are put back from
    their kept links, or removed where the set was the folder's first."""
    _killed_set(tmp_path, 1, old=old)
    staged = json.loads((tmp_path / atomic.JOURNAL).read_text())["files"][2]["new"]
    os.unlink(tmp_path / staged)
    said = atomic.recover(tmp_path, NAMES)
    assert said == "rolled back a write of a, b, c that was killed part-way: all are the earlier files again", said
    assert _files(tmp_path) == (dict.fromkeys(NAMES, "old") if old else {})


@pytest.mark.parametrize("record", [
    "", "{torn", "[]", '{"files": 3}', '{"files": [{"name": "a"}]}',
    '{"files": [{"name": "a", "new": "../../a.abcdefgh.tmp", "inode": 1, "old": null}]}',
    '{"files": [{"name": "a", "new": ".b.abcdefgh.tmp", "inode": 1, "old": ".c.1-0a0b0c0d.old.tmp"}]}',
])
def test_a_journal_that_is_no_record_of_the_set_touches_nothing_else(tmp_path: Path, record: str) -> None:
    """The journal is a file in the folder, not an authority: a torn or hand-made one names nothing the caller
    may touch, and only it goes (a torn one is a write killed while writing it: before any rename)."""
    for name in ("a", "b", "c", ".b.abcdefgh.tmp", ".c.1-0a0b0c0d.old.tmp"):
        (tmp_path / name).write_text("mine")
    (tmp_path / atomic.JOURNAL).write_text(record)
    said = atomic.recover(tmp_path, NAMES)
    assert said == f"removed an unreadable {atomic.JOURNAL} (a write killed before it replaced any file)", said
    assert _files(tmp_path) == {n: "mine" for n in ("a", "b", "c", ".b.abcdefgh.tmp", ".c.1-0a0b0c0d.old.tmp")}


def test_another_command_s_journal_is_left_alone(tmp_path: Path) -> None:
    """A run's claim of a folder holding a deployment's journal does not touch it (the deploy's next claim does)."""
    _killed_set(tmp_path, 1)
    before = _files(tmp_path)
    assert atomic.recover(tmp_path, ["a", "b"]) is None
    with claim(tmp_path, outputs=RUN_OUTPUTS, mode="resume") as folder:
        assert folder.notes == []
    assert {n: t for n, t in _files(tmp_path).items() if n != ".lockstep.lock"} == before


def test_certify_reports_killed_between_two_renames_are_one_run_s_again(tmp_path: Path) -> None:
    """A certificate's reports and its failures/ (swapped in before the renames) killed after two of four renames:
    read back, the certificate is refused as not one run's; the next claim of the folder (certify's, the pytest
    plugin's) finishes the set, and the reports and failures/ are the new run's."""
    from lockstep.conformance.report import write_reports
    from lockstep.conformance.results import Certification, CheckResult, Worst

    def cert(outcome: str) -> Certification:
        return Certification(adapter="torch", adapter_versions={"torch": "2.3.1"}, spec_version="v1",
                             suite_version="0.1.0", seed=1, examples=5, levels=[1], dtypes=["float64"],
                             devices=["cpu"], environment={}, seconds=1.0, checks=[
                                 CheckResult("dense", 1, "float64", "cpu", outcome, 5,
                                             Worst("output", 1e-13 if outcome == "pass" else 1.0, 1e-12, 0.1))])

    folder = tmp_path / "certify"
    (folder / "failures" / "old-check").mkdir(parents=True)
    write_reports(cert("fail"), folder)
    stage = folder / f"{TRASH_PREFIX}4242-staged"
    (stage / "failures" / "new-check").mkdir(parents=True)
    (tmp_path / "cert.pickle").write_bytes(pickle.dumps(cert("pass")))
    code = (f"import pickle, sys\nfrom pathlib import Path\nsys.path[:0] = {sys.path!r}\n"
            "from lockstep.conformance.report import write_reports\n"
            f"cert = pickle.loads(Path({str(tmp_path / 'cert.pickle')!r}).read_bytes())\n"
            f"write_reports(cert, Path({str(folder)!r}), failures=Path({str(stage / 'failures')!r}), "
            f"trash=Path({str(stage / 'previous')!r}))\n")
    done = killed_after_renames(2, code)
    assert done.returncode == KILLED, done.stderr
    split = [json.loads((folder / "report.json").read_text())["certified"], (folder / "report.md").read_text()]
    with pytest.raises(LockstepError, match=f"{atomic.JOURNAL} beside it says that the reports there are being "
                                            "replaced, or were when a certify was killed"):
        Certificate.read(folder)
    with claim(folder, outputs=CERTIFY_OUTPUTS, mode="resume") as claimed:
        assert claimed.notes == [f"{folder}: finished a write of report.json, junit.xml, report.html, report.md "
                                 "that was killed part-way: all are the new files"], (claimed.notes, split)
    assert Certificate.read(folder).certified and "NOT CERTIFIED" not in (folder / "report.md").read_text()
    assert [p.name for p in (folder / "failures").iterdir()] == ["new-check"]
    assert sorted(p.name for p in folder.iterdir()) == ["failures", "junit.xml", "report.html", "report.json",
                                                         "report.md"]  # no stage, temporary or kept link


def test_a_journal_that_cannot_be_written_leaves_the_set_as_it_was(tmp_path: Path) -> None:
    """The journal is written after `before()` (certify's failures/ swapped in): failing to write it (here a folder
    in its place; a full disk alike) undoes before(), as a failed rename does, and names the journal."""
    for name in ("a", "b"):
        (tmp_path / name).write_text("old")
    (tmp_path / atomic.JOURNAL).mkdir()
    said: list[str] = []
    with pytest.raises(IsADirectoryError) as info:
        atomic.write_set({tmp_path / "a": b"new", tmp_path / "b": b"new"}, before=lambda: said.append("before"),
                         undo=lambda: said.append("undo"))
    assert info.value.filename == str(tmp_path / atomic.JOURNAL) and said == ["before", "undo"], (info.value, said)
    assert {n: t for n, t in ((p.name, p.is_file() and p.read_text()) for p in tmp_path.iterdir())} == {
        "a": "old", "b": "old", atomic.JOURNAL: False}


def test_certify_finishes_reports_a_killed_certify_left_half_replaced_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`lockstep certify --report DIR` into a folder whose reports a SIGKILL left of two runs: the claim finishes
    them before any check runs, and certify says so on its progress lines."""
    from lockstep.cli import main

    folder = tmp_path / "cr"
    argv = ["certify", "--adapter", "reference", "--construct", "dense", "--level", "1", "--examples", "2",
            "--jobs", "1", "--report", str(folder)]
    assert main([*argv, "-q"]) == 0
    files = {str(folder / n): (folder / n).read_bytes() + b"\n"
             for n in ("report.json", "junit.xml", "report.html", "report.md")}
    done = killed_after_renames(2, "from pathlib import Path\nfrom lockstep.spec import atomic\n"
                                   f"atomic.write_set({{Path(k): v for k, v in {files!r}.items()}})\n")
    assert done.returncode == KILLED and (folder / atomic.JOURNAL).is_file(), done.stderr
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"lockstep certify: {folder}: finished a write of report.json, junit.xml, report.html, "
                          "report.md that was killed part-way: all are the new files\n"), err
    assert not [p for p in folder.iterdir() if p.name.startswith(".") and p.name != ".lockstep.lock"]


@pytest.mark.parametrize("linkable", [True, False])
def test_a_set_whose_undo_fails_keeps_its_journal_for_the_next_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       linkable: bool) -> None:
    """A rename failed part-way and putting an earlier one back failed too (or its old file could not be kept):
    the journal was removed all the same, and the folder held a mix of two sets that no one would ever see. The
    journal (and the kept links) now stay, and the next writer rolls the set back, or says it cannot."""
    for name in NAMES:
        (tmp_path / name).write_text("old")
    real_replace, real_link = os.replace, os.link

    def replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(dst).name == "c" or (Path(dst).name == "b" and ".old." in Path(str(src)).name):
            raise PermissionError(1, "Operation not permitted", str(dst))
        real_replace(src, dst, *args, **kwargs)

    def link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(str(src)).name == "b":
            raise PermissionError(1, "Operation not permitted", str(src))
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    if not linkable:
        monkeypatch.setattr(os, "link", link)
    with pytest.raises(atomic.SplitSet) as info:
        atomic.write_set({tmp_path / n: b"new" for n in NAMES})
    monkeypatch.undo()
    assert info.value.filename == str(tmp_path / "c") and info.value.strerror == "Operation not permitted"
    shown = {n: (tmp_path / n).read_text() for n in NAMES}
    assert shown == {"a": "old", "b": "new", "c": "old"}, shown  # the mix the undo could not mend
    assert (tmp_path / atomic.JOURNAL).is_file()
    said = atomic.recover(tmp_path, NAMES)
    if linkable:
        assert said == "rolled back a write of a, b, c that was killed part-way: all are the earlier files again"
        assert _files(tmp_path) == dict.fromkeys(NAMES, "old")
    else:
        assert said is not None and "cannot be rolled back (b replaced a file that could not be kept)" in said, said
        assert set(_files(tmp_path)) == set(NAMES)
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / atomic.JOURNAL).exists()


def test_a_split_set_is_said_so_by_the_command_that_wrote_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy and certify said "the folder holds what it held before" of a set whose undo had failed."""
    import lockstep.deploy as deploy_module

    out = tmp_path / "out"
    out.mkdir()
    for name in ("model.onnx", "environment.lock.json", "deploy.json", "summary.txt"):
        (out / name).write_text("old")
    real_replace = os.replace

    def replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(dst).name == "summary.txt" or (Path(dst).name == "model.onnx" and ".old." in Path(str(src)).name):
            raise PermissionError(1, "Operation not permitted", str(dst))
        real_replace(src, dst, *args, **kwargs)

    class Plan:
        claimed = None  # no folder claim to check (deploy.claim_out's)

    class Result:
        plan, lock, report, summary = Plan(), {}, {}, "s"

    Result.plan.out = out
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(LockstepError) as info:
        deploy_module._write_deployment(Result(), b"new")  # type: ignore[arg-type]
    monkeypatch.undo()
    assert "a mix of the earlier files and the new ones until the next write there rolls it back" in str(info.value)
