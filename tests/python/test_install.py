"""The installed library as a host program meets it: `meson install` into a
DESTDIR, every installed header compiled alone, no third-party type in them,
and a small host built with nothing but `pkg-config --cflags --libs libofn`
that opens a Platform, registers a function, applies a Function and calls it."""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("OFN_BUILD_ROOT", ROOT / "build"))

HOST = r'''
#include <libofn/ofn.h>

#include <cstdio>

int main() {
  ofn::Platform::Options options;
  options.gateway_address = "";  // no listener: Invoke only
  auto platform = ofn::Platform::Open(options);
  if (!platform.ok()) {
    std::fprintf(stderr, "%s\n", platform.status().ToString().c_str());
    return 1;
  }
  (*platform)->functions().Http("greet", [](const ofn::HttpRequest& r) {
    return ofn::HttpResponse::Text(200, "hello from the host, " + std::string(r.query()) + "\n");
  });
  auto applied = (*platform)->Apply(R"(apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: greet
spec:
  version: v1.0.0
  image: ofn.local/greet:latest
  serving:
    template:
      containers:
        - name: function
    triggers:
      http:
        port: 8080
)");
  if (!applied.ok()) {
    std::fprintf(stderr, "%s\n", applied.status().ToString().c_str());
    return 1;
  }
  if (!(*platform)->WaitReady("greet", std::chrono::seconds(10)).ok()) return 1;
  ofn::HttpRequest req;
  req.target = "/?who=installed";
  ofn::HttpResponse res = (*platform)->Invoke("greet", req);
  std::printf("%d %s%s", res.status, res.body.c_str(), ofn::Version());
  return res.status == 200 ? 0 : 1;
}
'''

FORBIDDEN = re.compile(r'#\s*include\s*[<"](boost/|sqlite3|yaml-cpp/|grpc|grpcpp/|google/protobuf)')


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--no-rebuild", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = subprocess.run(["meson", "introspect", str(BUILD), "--buildoptions"], capture_output=True, text=True,
                            check=True).stdout
    import json
    opts = {o["name"]: o["value"] for o in json.loads(prefix)}
    root = dest / opts["prefix"].lstrip("/")
    libdir = root / opts["libdir"]
    return {"dest": dest, "root": root, "include": root / opts["includedir"], "libdir": libdir}


def test_every_installed_header_compiles_alone_without_third_party_types(installed):
    headers = sorted(installed["include"].glob("libofn/**/*.h"))
    names = [str(h.relative_to(installed["include"])) for h in headers]
    assert "libofn/ofn.h" in names and "libofn/platform/platform.h" in names
    assert "libofn/backend/registry.h" in names
    assert "libofn/ofn_c.h" in names
    for h in headers:
        text = h.read_text()
        assert not FORBIDDEN.search(text), "%s includes a third-party header" % h
        for inc in re.findall(r'#include "(libofn/[^"]+)"', text):
            assert inc in names, "%s includes %s, which is not installed" % (h, inc)
    # Each alone, as C++20 with warnings as errors, against the installed tree only.
    for name in names:
        r = subprocess.run(["g++", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                            "-I", str(installed["include"]), "-x", "c++", "-"],
                           input='#include <%s>\n#include <%s>\n' % (name, name), capture_output=True, text=True)
        assert r.returncode == 0, name + ":\n" + r.stderr


def test_a_host_program_builds_with_pkg_config_alone_and_runs(installed, tmp_path):
    pcdir = installed["libdir"] / "pkgconfig"
    assert (pcdir / "libofn.pc").exists(), sorted(p.name for p in installed["libdir"].iterdir())
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcdir), PKG_CONFIG_SYSROOT_DIR=str(installed["dest"]))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libofn"], env=env, capture_output=True, text=True)
    assert flags.returncode == 0, flags.stderr
    assert "boost" not in flags.stdout
    sonames = [p.name for p in installed["libdir"].glob("libofn.so*")]
    assert "libofn.so.0" in sonames, sonames
    # The process backend's supervisor and guard, found from the library's
    # own place (the destdir tree is a moved install).
    shim = installed["root"] / "libexec" / "libofn" / "ofn-shim"
    assert shim.exists() and os.access(shim, os.X_OK), shim
    src = tmp_path / "host.cc"
    src.write_text(HOST)
    exe = tmp_path / "host"
    r = subprocess.run(["g++", str(src), "-o", str(exe), "-Wall", "-Wextra", "-Werror", *flags.stdout.split()],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    run = subprocess.run([str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=str(installed["libdir"])),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("200 hello from the host, who=installed\n"), run.stdout
    # The installed library, not the build tree's, was loaded.
    ldd = subprocess.run(["ldd", str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=str(installed["libdir"])),
                         capture_output=True, text=True).stdout
    assert str(installed["libdir"]) in ldd, ldd


def test_a_c_program_builds_with_pkg_config_libofn_c_and_runs(installed, tmp_path):
    pcdir = installed["libdir"] / "pkgconfig"
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcdir), PKG_CONFIG_SYSROOT_DIR=str(installed["dest"]))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libofn-c"], env=env, capture_output=True, text=True)
    assert flags.returncode == 0, flags.stderr
    assert "c++" not in flags.stdout, flags.stdout
    exe = tmp_path / "c-host"
    r = subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
                        str(ROOT / "examples" / "c-host" / "main.c"), "-o", str(exe), *flags.stdout.split()],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    run = subprocess.run([str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=str(installed["libdir"])),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "200 Hello from C, who=world\n", run.stdout


def test_the_custom_paas_example_builds_against_the_installed_tree_and_serves(installed, tmp_path):
    import http.client
    import time
    pcdir = installed["libdir"] / "pkgconfig"
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcdir), PKG_CONFIG_SYSROOT_DIR=str(installed["dest"]))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libofn"], env=env, capture_output=True, text=True)
    exe = tmp_path / "custom-paas"
    r = subprocess.run(["g++", str(ROOT / "examples" / "custom-paas" / "main.cc"), "-o", str(exe), "-Wall", "-Wextra",
                        "-Werror", *flags.stdout.split()], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen([str(exe), "127.0.0.1:0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, LD_LIBRARY_PATH=str(installed["libdir"])))
    try:
        first = proc.stdout.readline()
        assert first.startswith("listening on 127.0.0.1:"), first + proc.stderr.read()
        port = int(first.strip().rsplit(":", 1)[1])

        def call(method, path, host, body=None):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request(method, path, body=body, headers={"Host": host})
            res = conn.getresponse()
            out = (res.status, res.read().decode())
            conn.close()
            return out

        api = "paas.default.ofn.io"
        assert call("POST", "/functions", api, '{"name":"bob","greeting":"Howdy"}') == (201, '{"name":"bob"}\n')
        assert call("POST", "/functions", api, '{"name":"Bad Name"}')[0] == 400
        deadline = time.time() + 10
        while call("GET", "/", "bob.default.ofn.io")[0] != 200 and time.time() < deadline:
            time.sleep(0.05)
        assert call("GET", "/", "bob.default.ofn.io") == (200, "Howdy from bob\n")
        assert call("GET", "/functions", api) == (200, '["bob"]\n')
        assert call("DELETE", "/functions/bob", api)[0] == 200
        deadline = time.time() + 10
        while call("GET", "/", "bob.default.ofn.io")[0] != 404 and time.time() < deadline:
            time.sleep(0.05)
        assert call("GET", "/", "bob.default.ofn.io")[0] == 404
        assert call("GET", "/functions", api) == (200, "[]\n")
        out, err = proc.communicate(input="", timeout=30)
        assert proc.returncode == 0, err
        assert "greeter instances started: 1" in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_installed_python_package_imports_and_runs(installed, tmp_path):
    inits = [p for p in installed["dest"].rglob("ofn/__init__.py")]
    assert inits, "the ofn package was not installed"
    pkg_root = inits[0].parent.parent
    assert list((pkg_root / "ofn").glob("_ofn*.so")), sorted(p.name for p in (pkg_root / "ofn").iterdir())
    code = ("import ofn\n"
            "with ofn.Platform(listen=None) as p:\n"
            "    @p.function('hi')\n"
            "    def hi(request):\n"
            "        return 'hi from the installed package'\n"
            "    p.apply({'apiVersion': 'core.openfunction.io/v1beta2', 'kind': 'Function', 'metadata': {'name': 'hi'},\n"
            "             'spec': {'version': 'v1', 'image': 'ofn.local/hi:latest', 'serving': {'template': {'containers':\n"
            "             [{'name': 'function'}]}, 'triggers': {'http': {'port': 8080}}}}})\n"
            "    p.wait_ready('hi')\n"
            "    print(p.invoke('hi').text, ofn.__file__)\n")
    run = subprocess.run(["/usr/bin/python3", "-c", code], cwd=str(tmp_path), capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=str(pkg_root),
                                              LD_LIBRARY_PATH=str(installed["libdir"])))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("hi from the installed package " + str(pkg_root)), run.stdout
