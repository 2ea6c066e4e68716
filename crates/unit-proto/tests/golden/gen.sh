#!/usr/bin/env bash
# Regenerates the golden wire bytes with an encoder independent of prost: `protoc`
# from Debian's protobuf-compiler (made with libprotoc 3.21.12). The .bin files are
# committed; tests only read them, so running the tests never needs protoc.
#
#   apt-get install -y protobuf-compiler && bash crates/unit-proto/tests/golden/gen.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../../../proto" && pwd)
for pair in process_error:ProcessError process_result:ProcessResult \
            sub_task_status:SubTaskStatus query_status_response:QueryStatusResponse; do
  file=${pair%%:*} msg=${pair##*:}
  protoc --proto_path="$proto" --encode="pb.$msg" dmworker.proto \
    < "$here/$file.txtpb" > "$here/$file.bin"
done
