"""pytest plugin: a fresh libofn platform per test, on a manual clock.

    # conftest.py:  pytest_plugins = ["ofn.pytest_plugin"]   (or: pytest -p ofn.pytest_plugin)

    def test_scales_to_zero(ofn_platform):
        @ofn_platform.function("hello")
        def hello(request):
            return "hi"
        ofn_platform.apply(MANIFEST)
        ofn_platform.wait_ready("hello")
        ofn_platform.clock.advance(seconds=120)      # idle: the autoscaler runs every 2 s of it
        assert ofn_platform.revisions("hello")[0]["ready_instances"] == 0

The platform keeps its state in the test's tmp_path, has no listener
(calls go through invoke()) and closes when the test ends.
"""
import pytest


@pytest.fixture
def ofn_platform(tmp_path):
    import ofn

    platform = ofn.Platform(state_dir=str(tmp_path / "ofn-state"), listen=None, manual_clock=True)
    try:
        yield platform
    finally:
        platform.close()
