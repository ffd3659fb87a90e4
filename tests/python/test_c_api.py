"""The C API: the C99 program in tests/c calls every function of
libofn/ofn_c.h and each error path; the header compiles alone as C99 with
-pedantic -Werror."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("OFN_BUILD_ROOT", ROOT / "build"))


def test_the_header_is_c99_pedantic():
    for std in ("c99", "c11"):
        r = subprocess.run(["gcc", "-std=" + std, "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                            "-I", str(ROOT / "bindings" / "c"), "-x", "c", "-"],
                           input='#include "ofn_c.h"\n#include "ofn_c.h"\nint main(void) { return 0; }\n',
                           capture_output=True, text=True)
        assert r.returncode == 0, std + ":\n" + r.stderr


def test_every_call_and_error_path_from_c():
    exe = BUILD / "tests" / "c_api_test"
    assert exe.exists(), "build the tests first (%s)" % exe
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert r.returncode == 0, r.stdout + r.stderr
    assert last.startswith("c_api_test: ") and last.endswith(", 0 failed"), last
    checks = int(last.split()[1])
    assert checks >= 150, last
