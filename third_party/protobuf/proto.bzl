"""cc_proto: compiles .proto files with the system protoc into a cc_library."""

def cc_proto(name, srcs, deps = [], visibility = None):
    """C++ library for the messages in `srcs` (proto files in this package).

    Args:
      name: the cc_library's name.
      srcs: .proto files of this package.
      deps: other cc_proto targets whose .proto files these import.
      visibility: passed to the cc_library.
    """
    pkg = native.package_name()
    stems = [s[:-len(".proto")] for s in srcs]
    outs = [s + ".pb.h" for s in stems] + [s + ".pb.cc" for s in stems]
    native.genrule(
        name = name + "_protoc",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = "/usr/bin/protoc --proto_path=. --cpp_out=$(GENDIR) " +
              " ".join([pkg + "/" + s for s in srcs]),
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs,
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = [s + ".pb.cc" for s in stems],
        hdrs = [s + ".pb.h" for s in stems],
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["//third_party/protobuf"],
        visibility = visibility,
    )
