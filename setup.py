"""Map the repository's top-level folders onto one import package, `lockstep.<part>`.

The layout keeps each part in a folder of its own (spec/, reference/, ...) so that a newcomer finds
it at the top of the tree, while users import one distribution as `lockstep.spec`, `lockstep.reference`.
"""

from setuptools import find_packages, setup

PARTS = ["spec", "reference", "adapters", "conformance"]

packages = ["lockstep", *(f"lockstep.{sub}" for sub in find_packages("lockstep"))]
package_dir = {"lockstep": "lockstep"}
for part in PARTS:
    packages.append(f"lockstep.{part}")
    packages.extend(f"lockstep.{part}.{sub}" for sub in find_packages(part))
    package_dir[f"lockstep.{part}"] = part

# The example documents ship as data (`lockstep.examples`): `lockstep certify` trains them at level 4, and
# users copy from them, also when Lockstep is installed from a wheel rather than from this repository.
packages.append("lockstep.examples")
package_dir["lockstep.examples"] = "examples"

# Folders of data alone are packages too, named, so that their files are package data of their own package (setuptools
# warns, and means to stop shipping them, where a folder of data inside a package is not listed as one)
packages += ["lockstep.spec.schemas", "lockstep.spec.schemas.v1", "lockstep.reference.datasets"]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "lockstep.spec.schemas.v1": ["*.json"],
        "lockstep.reference.datasets": ["*.npz"],
        # an example ships whole: its data, and the text and script its data was made from (tiny-gpt)
        "lockstep.examples": ["*.yaml", "*/*.yaml", "*/*.csv", "*/*.npz", "*/*.md", "*/*.txt", "*/make_data.py"],
    },
)
