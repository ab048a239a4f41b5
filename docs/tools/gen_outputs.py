"""Every command output shown in README.md and docs/ (tutorials included), produced by running the command.

A shown output is a fenced block right after a marker comment naming the commands it shows:

    <!-- output: lockstep compare examples/huber-regression/recipe.yaml --every 50 || mask=float64, slow -->
    ```
    $ lockstep compare examples/huber-regression/recipe.yaml --every 50
    ...what it printed...
    ```

Commands are separated by ` ;; `; after ` || ` come options, comma-separated:

- `mask=float32`: every number is machine-dependent (float32 results, margins): the check compares the text with
  every number replaced by `#`, i.e. only through words such as verdicts; `mask=float64` (the default): only
  round-off-sized numbers (those printed in e-notation: differences, ratios) are masked, float64 values
  (losses, metrics, counts) are compared exactly as printed. Timings, and where a worst case was reached,
  are masked in both;
- `keep=REGEX`: show only the lines matching REGEX and the last line (`...` stands for the lines left out);
- `stderr`: show what the command printed on stderr too (after stdout);
- `acme`: the out-of-tree example adapter is installed for this block (`lockstep certify --adapter acme`);
- `slow`: the check is slow (TensorFlow, a certification): `tests/test_docs_outputs.py` marks it so;
- `columns=N`: the terminal width the commands see (120 otherwise; pytest draws its rules that wide);
- `setup=N`: the first N commands prepare what the shown ones need (a damaged checkpoint, an earlier run) and are
  not shown; one that fails stops the script. They may call `python "$LOCKSTEP_DOCS_TOOLS/damage.py"`;
- `after=N`: the last N commands are not shown either: they stop what a setup started (a run that holds a folder).

The scratch folder's own path, where a command prints it, is shown as `/tmp/docs`; this interpreter's `bin/`
folder (where the `lockstep` command lies) is left out of the commands a lock file names, and this machine's
name is shown as `myhost`.

Each block is rewritten as `$ command` then its output, for every command in order. The blocks of one page run
in page order (a block may use what an earlier one wrote; a block not marked slow never depends on a slow one),
with `bash`, in a scratch folder of the page's own that holds a copy of `examples/`, `my-recipe/`
(= examples/digits-mlp), `my-cnn/` (= examples/small-cnn), `configs/` (docs/tools/fixtures/configs: documents
with mistakes, for `lockstep validate`) and `docs/tutorials/mistakes/` (the documents with mistakes the README
validates); for blocks marked `acme` the out-of-tree `acme` adapter is visible as if installed (an entry point
on PYTHONPATH); this interpreter's `lockstep` is first on PATH.

    python docs/tools/gen_outputs.py            # rewrite every shown output
    python docs/tools/gen_outputs.py --check    # exit 1 when a committed output differs from a fresh run
    python docs/tools/gen_outputs.py --list     # the markers, one per line
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHOWN_AS = "/tmp/docs"  # the scratch folder, as the shown outputs name it
MARKER = re.compile(r"^<!-- output: (?P<spec>.*?) -->\n```[^\n]*\n(?P<body>.*?)^```$", re.M | re.S)
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w.])", re.I)
TIMING = re.compile(r"\b\d+(?:\.\d+)?(?: ?s\b| step/s|(?= ms\b)| examples/s)|eta \d+:\d+|\(total +\d+s\)"
                    r"|\b\d+(?= runs after \d+ warm-up)")  # latency: as many runs as fit the time (a loaded machine)
HOLDER = re.compile(r"\bpid \d+|\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")  # a lock's holder
WHERE = re.compile(r"\((?:worst: [^)]*|step \d+(?:, [^)]*)?)\)")
GROWTH = re.compile(r"×\d+(?:\.\d+)?")
ROUNDOFF = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?e[-+]?\d+(?![\w.])", re.I)
TIMEOUT = 3600
ACME = "LOCKSTEP_DOCS_ACME"  # where the acme adapter's entry point lies; on PYTHONPATH only for blocks marked `acme`


@dataclass
class Shown:
    """One marker and its block: where it is, what it runs, how it is checked."""

    path: Path
    start: int  # the block's body in the file's text
    end: int
    commands: list[str]
    body: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def slow(self) -> bool:
        return "slow" in self.options

    @property
    def label(self) -> str:
        return f"{self.path.relative_to(ROOT)}: {self.commands[-1]}"


def parse(path: Path) -> list[Shown]:
    """The markers of one document, in order."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in MARKER.finditer(text):
        spec, _, opts = m.group("spec").partition(" || ")
        options = {}
        for part in filter(None, (o.strip() for o in opts.split(","))):
            key, _, value = part.partition("=")
            options[key.strip()] = value.strip()
        commands = [c.strip() for c in spec.split(" ;; ") if c.strip()]
        out.append(Shown(path, m.start("body"), m.end("body"), commands, m.group("body"), options))
    return out


# Variables that change what the shown commands print, not what they do: pytest prints its short summary in full
# where CI or BUILD_NUMBER is set (a CI machine's page would differ from a user's), and PYTEST_*/LOCKSTEP_* settings
# of the process that generates the pages (an xdist worker, a test's memory limit) are not the reader's.
CHANGES_OUTPUT = ("CI", "BUILD_NUMBER", "PY_COLORS", "FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES")
OWN_PREFIXES = ("PYTEST_", "LOCKSTEP_", "HYPOTHESIS_")


def user_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` as a reader's shell would have it: without what makes the shown outputs depend on where they ran."""
    return {k: v for k, v in environ.items() if k not in CHANGES_OUTPUT and not k.startswith(OWN_PREFIXES)}


def sandbox(folder: Path) -> dict[str, str]:
    """Fill `folder` with what the shown commands use; the environment to run them in."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(ROOT / "examples" / "digits-mlp", folder / "my-recipe")
    shutil.copytree(ROOT / "examples" / "small-cnn", folder / "my-cnn")
    shutil.copytree(ROOT / "docs" / "tools" / "fixtures" / "configs", folder / "configs")
    shutil.copytree(ROOT / "docs" / "tutorials" / "mistakes", folder / "docs" / "tutorials" / "mistakes")
    shim = folder / ".acme-entry-point"  # the acme adapter as if `pip install examples/acme-adapter` had run
    info = shim / "acme_lockstep_adapter-0.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-lockstep-adapter\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("[lockstep.adapters]\nacme = acme_lockstep:AcmeAdapter\n")
    env = user_environment(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # the sandbox's copy of its source: a page may edit it (certify.md plants a bug, then fixes it)
    env[ACME] = os.pathsep.join([str(shim), str(folder / "examples" / "acme-adapter" / "src")])
    env["COLUMNS"] = "120"
    env["LOCKSTEP_DOCS_OUTPUTS"] = "1"
    env["LOCKSTEP_DOCS_TOOLS"] = str(Path(__file__).resolve().parent)
    return env


def run(shown: Shown, folder: Path, env: dict[str, str]) -> str:
    """The new body of a block: `$ command` and its output, for each command."""
    lines: list[str] = []
    if "acme" in shown.options:  # the example vendor adapter, as if `pip install ./examples/acme-adapter` had run
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [env[ACME], env.get("PYTHONPATH", "")]))}
    if "columns" in shown.options:
        env = {**env, "COLUMNS": shown.options["columns"]}
    hidden = int(shown.options.get("setup", "0"))
    shown_end = len(shown.commands) - int(shown.options.get("after", "0"))
    for i, command in enumerate(shown.commands):
        proc = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        if i < hidden or i >= shown_end:
            if proc.returncode:
                raise RuntimeError(f"{shown.label}: its hidden `{command}` failed (exit {proc.returncode}):\n"
                                   f"{proc.stdout}{proc.stderr}")
            continue
        output = proc.stdout + (proc.stderr if "stderr" in shown.options else "")
        output = output.replace(str(folder.resolve()), SHOWN_AS).replace(str(folder), SHOWN_AS)
        output = output.replace(f"`{Path(sys.executable).parent}{os.sep}", "`")
        output = re.sub(rf"(?<![\w.-]){re.escape(socket.gethostname())}(?![\w-])", "myhost", output)
        lines.append(f"$ {command}")
        lines += _keep(output.rstrip("\n").splitlines(), shown.options.get("keep"))
    return "\n".join(lines) + "\n"


def _keep(lines: list[str], pattern: str | None) -> list[str]:
    if not pattern:
        return lines
    wanted = re.compile(pattern)
    out: list[str] = []
    for i, line in enumerate(lines):
        if wanted.search(line) or i == len(lines) - 1:
            out.append(line)
        elif not out or out[-1] != "...":
            out.append("...")
    return out


def mask(text: str, mode: str = "float64") -> str:
    """The text as the check compares it. Always masked: timings, a lock holder's pid and start time, and where a
    worst case or a largest difference was reached (`(worst: ...)`, `(step N, name)`) and drift's growth, which
    round-off decides. float32: every
    number; float64: the round-off-sized ones (printed in e-notation: differences, ratios), so that values
    (losses, metrics, counts) are compared exactly as printed. Runs of spaces count as one: a table's columns
    widen with a masked number's width."""
    text = TIMING.sub("#", text)
    text = HOLDER.sub("#", text)
    text = WHERE.sub("(#)", text)
    text = GROWTH.sub("×#", text)
    text = NUMBER.sub("#", text) if mode == "float32" else ROUNDOFF.sub("#", text)
    return re.sub(r"(?<=\S) {2,}", " ", text)


def run_document(shown: list[Shown]) -> list[str]:
    """Fresh bodies of one document's blocks, run in document order in a scratch folder of its own: a tutorial
    is a sequence (a block may use what an earlier block of the same page wrote, e.g. a run folder), and one
    page never sees another's files."""
    with tempfile.TemporaryDirectory(prefix="lockstep-docs-") as tmp:
        folder = Path(tmp)
        env = sandbox(folder)
        return [run(s, folder, env) for s in shown]


def stale(s: Shown, fresh: str) -> str | None:
    """A unified diff of the committed block against a fresh run, as the check compares them; None if equal."""
    mode = s.options.get("mask", "float64")
    if mask(fresh, mode) == mask(s.body, mode):
        return None
    return "\n".join(difflib.unified_diff(mask(s.body, mode).splitlines(), mask(fresh, mode).splitlines(),
                                          "committed", "fresh", lineterm="", n=1))


def rewrite(paths: list[Path], *, check: bool, only_fast: bool = False) -> int:
    """Regenerate every block (or only compare, with `check`); returns the number of differing blocks. With
    `only_fast`, a page's blocks marked slow are left out (a fast block never depends on a slow one)."""
    differing = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        shown = [s for s in parse(path) if not (only_fast and s.slow)]
        fresh = run_document(shown)
        for s, body in reversed(list(zip(shown, fresh, strict=True))):  # from the end: earlier offsets stay valid
            diff = stale(s, body)
            if diff is not None:
                differing += 1
                if check:
                    print(f"{s.label}: differs\n{diff}", file=sys.stderr)
            text = text[:s.start] + body + text[s.end:]
        if not check and text != path.read_text(encoding="utf-8"):
            from lockstep.spec.atomic import write_text

            write_text(path, text)
            print(f"rewrote {path.relative_to(ROOT)}", file=sys.stderr)
    return differing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="documents (default: README.md and every page under docs/)")
    p.add_argument("--check", action="store_true", help="compare with a fresh run; change nothing")
    p.add_argument("--fast", action="store_true", help="only the blocks not marked slow")
    p.add_argument("--list", action="store_true", help="list the markers")
    args = p.parse_args(argv)
    paths = [f.resolve() for f in args.files] or DOCS
    if args.list:
        for path in paths:
            for s in parse(path):
                print(f"{s.label}{' (slow)' if s.slow else ''}")
        return 0
    differing = rewrite(paths, check=args.check, only_fast=args.fast)
    if args.check:
        print(f"{differing} shown output(s) differ from a fresh run" if differing else "every shown output is current",
              file=sys.stderr)
        return 1 if differing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
