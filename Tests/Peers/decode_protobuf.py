"""Decodes a delimited protobuf exposition from stdin with Python's protobuf runtime, a decoder
independent of the exporter's Swift code. metrics_pb2 is generated at run time, by PyPI
grpcio-tools' protoc, from the same metrics.proto the Swift code was generated from.

Usage: decode_protobuf.py PATH/TO/metrics.proto < body
Prints one JSON object per family (MessageToDict form), one per line.
"""
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf.internal.decoder import _DecodeVarint32
from google.protobuf.json_format import MessageToDict


def load_metrics_pb2(proto):
    out = tempfile.mkdtemp(prefix="mm-pb2-")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={os.path.dirname(proto)}",
         f"--python_out={out}", os.path.basename(proto)],
        check=True)
    sys.path.insert(0, out)
    import metrics_pb2  # noqa: E402
    return metrics_pb2


def main():
    metrics_pb2 = load_metrics_pb2(sys.argv[1])
    data = sys.stdin.buffer.read()
    position = 0
    while position < len(data):
        length, position = _DecodeVarint32(data, position)
        family = metrics_pb2.MetricFamily()
        family.ParseFromString(data[position:position + length])
        position += length
        print(json.dumps(MessageToDict(family, preserving_proto_field_name=True)))


if __name__ == "__main__":
    main()
