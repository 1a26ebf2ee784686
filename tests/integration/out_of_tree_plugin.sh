#!/usr/bin/env bash
# Builds examples/notes-plugin out of tree against an installed ClusterLite and
# loads it into this build's node, unchanged:
#   1. cmake --install <build> --prefix <tmp>/prefix
#   2. configure and build the example with -DCMAKE_PREFIX_PATH=<tmp>/prefix
#   3. copy notes.so beside users.so into a fresh plugins directory
#   4. start <build>/bin/clusterlite with "max_title_length": 12 for notes
#   5. POST /notes, GET /notes/{id}, and a 13-character title is refused (400)
# Usage: out_of_tree_plugin.sh <build dir> <source dir>
set -euo pipefail

build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/clusterlite-oot-XXXXXX")
node_pid=""
cleanup() {
  if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -KILL "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [[ -f "$work/node.log" ]] && { echo "--- node log" >&2; cat "$work/node.log" >&2; }
  exit 1
}

echo "== install ClusterLite to $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || { cat "$work/install.log"; fail "install"; }
test -f "$work/prefix/include/clusterlite/plugin.h" || fail "plugin headers not installed"

echo "== build examples/notes-plugin against it"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$source_dir/examples/notes-plugin" -B "$work/notes-build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; fail "configure the example"; }
cmake --build "$work/notes-build" -j2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build the example"; }
test -f "$work/notes-build/plugins/notes.so" || fail "notes.so not built"

mkdir "$work/plugins"
cp "$build/plugins/users.so" "$work/notes-build/plugins/notes.so" "$work/plugins/"

# A free port: bind port 0 and read what the kernel chose.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/config.json" <<EOF
{
  "node_id": "oot-1",
  "http": { "address": "127.0.0.1", "port": $port },
  "database": { "path": "node.db" },
  // No "load" list: every .so in the directory is loaded.
  "plugins": {
    "directory": "plugins",
    "configure": { "notes": { "settings": { "max_title_length": 12 } } }
  }
}
EOF

echo "== start the node on 127.0.0.1:$port"
env -u CLUSTERLITE_PLUGINS_DIR -u CLUSTERLITE_HTTP_PORT -u CLUSTERLITE_DB_PATH \
  "$build/bin/clusterlite" --config "$work/config.json" >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -m 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$node_pid" 2>/dev/null || fail "the node exited"
  sleep 0.1
done
curl -fsS -m 1 "http://127.0.0.1:$port/healthz" >/dev/null || fail "the node did not become healthy"
grep -q "\[plugin notes\] max_title_length = 12" "$work/node.log" || fail "the setting did not reach the factory"

echo "== POST /notes"
created=$(curl -sS -m 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
  -d '{"title":"Shopping","body":"milk, eggs"}' "http://127.0.0.1:$port/notes")
status=${created##*$'\n'}
body=${created%$'\n'*}
[[ "$status" == 201 ]] || fail "POST /notes answered $status: $body"
id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["id"])' "$body")

echo "== GET /notes/$id"
got=$(curl -fsS -m 10 "http://127.0.0.1:$port/notes/$id") || fail "GET /notes/$id"
python3 - "$got" "$id" <<'EOF' || fail "GET /notes/$id returned $got"
import json, sys
note = json.loads(sys.argv[1])
assert note["id"] == sys.argv[2], note
assert note["title"] == "Shopping" and note["body"] == "milk, eggs", note
assert note["created_at"] and note["created_at"] == note["updated_at"], note
EOF

echo "== the configured max_title_length (12) is enforced"
status=$(curl -sS -m 10 -o "$work/long.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"title":"Thirteen char"}' "http://127.0.0.1:$port/notes")
[[ "$status" == 400 ]] || fail "a 13-character title answered $status: $(cat "$work/long.json")"
grep -q '"field":"title"' "$work/long.json" || fail "the 400 does not name the title field: $(cat "$work/long.json")"
status=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/users")
[[ "$status" == 200 ]] || fail "GET /users beside notes answered $status"

echo "== stop the node"
kill -TERM "$node_pid"
for _ in $(seq 1 150); do
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$node_pid" 2>/dev/null && fail "the node did not stop within 15 s of SIGTERM"
wait "$node_pid" || fail "the node exited non-zero after SIGTERM"
node_pid=""
echo "PASS: out-of-tree notes plugin built with find_package(ClusterLite) and served by the node"
