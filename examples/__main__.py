"""`python -m lockstep.examples [DEST]`: copy the example documents into DEST (default `examples`), a new folder.

The tutorials start from `examples/…`, which a clone has and a `pip install` does not (the wheel ships them inside
the package, where no one should edit them). The JSON Schemas come along into DEST/schemas/, and each copied
document's `$schema` comment is pointed at its copy there, relative as in a clone: the copy can be moved and committed
(an absolute path into the installed package broke on every other machine). `lockstep validate DEST` skips them."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROG = "python -m lockstep.examples"
SCHEMA_COMMENT = re.compile(r"^(# yaml-language-server: \$schema=)(?:\.\./)+spec/schemas/(\S+)$", re.MULTILINE)
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py", "__main__.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("dest", nargs="?", default="examples", help="a folder that does not exist yet "
                                                                    "(default: examples)")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    if os.path.lexists(dest):
        print(f"{PROG}: {dest} already exists; choose a new folder (nothing is copied over files)", file=sys.stderr)
        return 2
    source = Path(str(resources.files("lockstep.examples")))
    schemas = Path(str(resources.files("lockstep.spec"))) / "schemas"
    names = sorted(p.name for p in source.iterdir() if p.is_dir() and (p / "recipe.yaml").is_file())
    try:
        parent = dest.absolute().parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
        try:
            for name in names:
                shutil.copytree(source / name, staging / name, ignore=SKIPPED)
            for path in source.glob("*.yaml"):
                shutil.copy2(path, staging / path.name)
            shutil.copytree(schemas, staging / "schemas", ignore=SKIPPED)
            for path in staging.rglob("*.yaml"):
                _point_schema_comment(path, staging / "schemas")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would make the copy private
            os.rename(staging, dest)  # all or nothing: a folder that appeared meanwhile is refused, not merged
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as exc:
        print(f"{PROG}: cannot copy the examples into {dest} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(f"copied {len(names)} example recipes into {dest}/: {', '.join(names)}")
    return 0


def _point_schema_comment(path: Path, schemas: Path) -> None:
    """`$schema=../../spec/schemas/v1/model.schema.json` → the copied schema's path relative to `path`, where it
    exists."""
    text = path.read_text(encoding="utf-8")

    def copied(m: re.Match[str]) -> str:
        target = schemas / m.group(2)
        return f"{m.group(1)}{Path(os.path.relpath(target, path.parent)).as_posix()}" if target.is_file() \
            else m.group(0)

    fixed = SCHEMA_COMMENT.sub(copied, text)
    if fixed != text:
        path.write_text(fixed, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
