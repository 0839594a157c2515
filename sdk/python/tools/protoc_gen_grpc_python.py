"""A protoc plugin (CodeGeneratorRequest on stdin, CodeGeneratorResponse on stdout) that runs the gRPC
Python generator built into grpcio-tools' protoc, which ships no standalone plugin binary. buf.gen.python.yaml
runs it with .tools/python's interpreter; the request's parameter is passed on as --grpc_python_opt."""

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as work:
        root = pathlib.Path(work)
        descriptors = root / "descriptors.binpb"
        descriptors.write_bytes(
            descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString()
        )
        out = root / "out"
        out.mkdir()
        args = ["protoc", f"--descriptor_set_in={descriptors}", f"--grpc_python_out={out}"]
        if request.parameter:
            args.append(f"--grpc_python_opt={request.parameter}")
        if protoc.main(args + list(request.file_to_generate)) != 0:
            response.error = "grpcio-tools protoc failed (its message is above)"
        else:
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                response.file.add(name=str(path.relative_to(out)), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())


if __name__ == "__main__":
    main()
