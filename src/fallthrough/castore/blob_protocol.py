"""The castore BlobService (package snix.castore.v1): its messages, stub and servicer.

Built at import time from the .proto shipped beside this module, so the wire format is
the one file a reader can check against the protocol, and no generated module has to be
kept in step with it. The compiled file lands in protobuf's default descriptor pool
under its canonical name (snix/castore/v1/rpc_blobstore.proto); manifest.py builds its
StatBlobResponse in a pool of its own, so the two never clash, and they share one wire
format (a stored manifest parses as this StatBlobResponse).
"""

from __future__ import annotations

import sys
from importlib import resources
from types import ModuleType
from typing import Any

import grpc

PROTO_FILE = "snix/castore/v1/rpc_blobstore.proto"
SERVICE = "snix.castore.v1.BlobService"


def compile_proto(package: str, proto_file: str) -> tuple[ModuleType, ModuleType]:
    """Compile a .proto shipped in `package`'s proto/ folder through grpc's loader, which
    searches sys.path for it: its messages and services modules.

    The proto root goes on sys.path only for the compile: the file then keeps its
    canonical name, the one peers' reflection and error messages use.
    """
    root = resources.files(package) / "proto"
    with resources.as_file(root) as path:
        entry = str(path)
        sys.path.insert(0, entry)
        try:
            return grpc.protos_and_services(proto_file)
        finally:
            sys.path.remove(entry)


_messages, _services = compile_proto(__package__ or "fallthrough.castore", PROTO_FILE)

StatBlobRequest: Any = _messages.StatBlobRequest
StatBlobResponse: Any = _messages.StatBlobResponse
ReadBlobRequest: Any = _messages.ReadBlobRequest
BlobChunk: Any = _messages.BlobChunk
PutBlobResponse: Any = _messages.PutBlobResponse

BlobServiceStub: Any = _services.BlobServiceStub
BlobServiceServicer: Any = _services.BlobServiceServicer
add_servicer: Any = _services.add_BlobServiceServicer_to_server

__all__ = [
    "BlobChunk",
    "BlobServiceServicer",
    "BlobServiceStub",
    "PutBlobResponse",
    "ReadBlobRequest",
    "SERVICE",
    "StatBlobRequest",
    "StatBlobResponse",
    "add_servicer",
    "compile_proto",
]
