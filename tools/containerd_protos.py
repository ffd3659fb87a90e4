#!/usr/bin/env python3
"""Prepares containerd's API .proto files for protoc's C++ generator.

Usage: containerd_protos.py API_DIR GOGO_GOOGLEAPIS_DIR OUT_DIR PROTOC GRPC_PLUGIN NAME...

containerd's .proto files (Debian's golang-github-containerd-containerd-dev
installs them) are written for gogo/protobuf: they `import weak` gogo.proto
and fieldpath.proto and set gogoproto options, which protoc's C++ generator
rejects. This writes a copy of each named file into OUT_DIR with those
imports and options removed and every containerd import made flat
(types/mount.proto -> ctrd_types_mount.proto), so that the generated files
sit side by side in one build directory, then runs protoc (C++ messages
and gRPC stubs) on them there. Nothing else changes: package names,
messages, fields and services are containerd's.
"""
import os
import re
import subprocess
import sys

CONTAINERD_PREFIX = "github.com/containerd/containerd/api/"


def flat_name(rel):
    """types/mount.proto -> ctrd_types_mount.proto; google/rpc/status.proto kept flat too."""
    rel = rel.replace("/v1/", "/")
    return "ctrd_" + rel.replace("/", "_")


def strip_options(text):
    # `import weak "..."`: gogo.proto and containerd's fieldpath plugin.
    text = re.sub(r'^\s*import\s+weak\s+"[^"]*";\s*$', "", text, flags=re.M)
    # File, message and enum options in parentheses: (gogoproto.x), (containerd.plugin.x).
    text = re.sub(r'^\s*option\s+\([^)]*\)[^;]*;\s*$', "", text, flags=re.M)
    # Field options made only of extension options: [(gogoproto.a) = x, (gogoproto.b) = y].
    def field_options(m):
        inner = m.group(1)
        parts = [p.strip() for p in re.split(r",(?![^\"]*\"(?:[^\"]*\"[^\"]*\")*[^\"]*$)", inner)]
        kept = [p for p in parts if p and not p.startswith("(")]
        return " [" + ", ".join(kept) + "]" if kept else ""
    text = re.sub(r"\s*\[((?:[^\]\"]|\"[^\"]*\")*)\]", field_options, text)
    return text


# Field names that are C++20 keywords, which protoc 3.21 does not escape
# (its accessors would not compile). A field's name is not on the wire: only
# its number is, so a renamed field reads and writes the same bytes.
RENAMED_FIELDS = {"requires": "requires_plugins"}


def rename_fields(text):
    for old, new in RENAMED_FIELDS.items():
        text = re.sub(r"(\brepeated\s+\w+\s+|\bstring\s+)%s(\s*=)" % old, r"\1%s\2" % new, text)
    return text


def rewrite_imports(text):
    def repl(m):
        path = m.group(1)
        if path.startswith(CONTAINERD_PREFIX):
            return 'import "%s";' % flat_name(path[len(CONTAINERD_PREFIX):])
        if path == "google/rpc/status.proto":
            return 'import "ctrd_google_rpc_status.proto";'
        return m.group(0)
    return re.sub(r'import\s+"([^"]+)";', repl, text)


def main():
    api_dir, googleapis_dir, out_dir, protoc, plugin = sys.argv[1:6]
    names = sys.argv[6:]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name in names:
        if name == "google/rpc/status.proto":
            src = os.path.join(googleapis_dir, name)
            dst = "ctrd_google_rpc_status.proto"
        else:
            src = os.path.join(api_dir, name)
            dst = flat_name(name)
        with open(src, encoding="utf-8") as f:
            text = f.read()
        text = rename_fields(rewrite_imports(strip_options(text)))
        with open(os.path.join(out_dir, dst), "w", encoding="utf-8") as f:
            f.write(text)
        written.append(dst)
    subprocess.run([protoc, "-I" + out_dir, "-I/usr/include", "--cpp_out=" + out_dir,
                    "--grpc_out=" + out_dir, "--plugin=protoc-gen-grpc=" + plugin] + written,
                   check=True)


if __name__ == "__main__":
    main()
