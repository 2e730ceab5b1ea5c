"""Builds the wheel with the top-level spec and fixtures inside `leads_api_kit` (no second copy in the repository)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_FILES = {"openapi.yaml": "openapi.yaml", "fixtures/leads.json": "leads.json"}  # source -> name in the package


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads the checkout's files directly
        target = Path(self.build_lib) / "leads_api_kit"
        target.mkdir(parents=True, exist_ok=True)
        for source, name in DATA_FILES.items():
            self.copy_file(str(ROOT / source), str(target / name))


setup(cmdclass={"build_py": BuildPyWithData})
