"""Generates interlock/v1/*_pb2.py (messages), *_pb2_grpc.py (stubs) and
*_pb2.pyi (types) from the repository's proto/ while building, into the
build directory only: the wheel carries them, the source tree never does.

The protos are found at $INTERLOCK_PROTO_DIR, else ../../proto (this
directory's place in the repository)."""

import os
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent


class BuildWithProtos(build_py):
    def run(self):
        super().run()
        from grpc_tools import protoc
        import grpc_tools

        proto_dir = pathlib.Path(os.environ.get("INTERLOCK_PROTO_DIR", HERE / ".." / ".." / "proto")).resolve()
        sources = sorted(str(p.relative_to(proto_dir)) for p in (proto_dir / "interlock" / "v1").glob("*.proto"))
        if not sources:
            raise SystemExit(f"no .proto files under {proto_dir}/interlock/v1 (set INTERLOCK_PROTO_DIR)")
        out = pathlib.Path(self.build_lib)
        include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *sources,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("grpc_tools.protoc failed on " + " ".join(sources))
        for pkg in (out / "interlock", out / "interlock" / "v1"):
            (pkg / "__init__.py").touch()


# The generated package (`interlock.v1`, the proto package's own name, so
# that the generated modules' imports of each other resolve) is written
# straight into the build directory, which the wheel is made of.
setup(cmdclass={"build_py": BuildWithProtos})
