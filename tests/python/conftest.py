import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _build_root():
    return pathlib.Path(os.environ.get("OFN_BUILD_ROOT", ROOT / "build"))


@pytest.fixture(scope="session")
def ofn_bin():
    path = _build_root() / "libofn" / "ofn"
    if not path.exists():
        pytest.fail("ofn binary not built at %s (run scripts/test.sh)" % path)
    return str(path)


@pytest.fixture(scope="session")
def shared_dir():
    path = pathlib.Path(os.environ.get("OFN_SHARED_DIR", ROOT.parent / "shared"))
    if not (path / "k8s-crds" / "validate.py").exists():
        pytest.fail("../shared/k8s-crds/validate.py not found beside the repository (%s)" % path)
    return path


@pytest.fixture(scope="session")
def data_dir():
    return ROOT / "tests" / "data"


# The Python bindings as built (build/bindings/python/ofn: the extension
# beside the package's Python files), and their pytest plugin.
import sys  # noqa: E402

sys.path.insert(0, str(_build_root() / "bindings" / "python"))
pytest_plugins = ["ofn.pytest_plugin"]
