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

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "lockstep.spec": ["schemas/*/*.json"],
        "lockstep.reference": ["datasets/*.npz"],
    },
)
