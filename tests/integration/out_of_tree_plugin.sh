#!/usr/bin/env bash
# The installed SDK and node, end to end:
#   1. cmake --install <build> --prefix <tmp>/prefix: the node, users.so and
#      schema.so (which serves nothing until a config declares a table), the
#      web UI, a config, the plugin headers and the CMake package
#   2. configure and build examples/notes-plugin out of tree against the prefix,
#      in a clean environment and without a build type (the package makes it
#      Release)
#   3. copy notes.so into the prefix's plugins directory (temporary name, then
#      rename)
#   4. check the installed config as it is (--check-config), then start
#      <prefix>/bin/clusterlite, standalone, from a config beside it that sets
#      "max_title_length": 12 for notes
#   5. POST /notes, GET /notes/{id}, a 13-character title is refused (400);
#      POST /users, GET /users/{id}; the web UI is served
# Usage: out_of_tree_plugin.sh <build dir> <source dir>
set -euo pipefail

build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/clusterlite-oot-XXXXXX")
prefix="$work/prefix"
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

# A clean environment: no CLUSTERLITE_* variable, no CMake or compiler
# settings of the caller's.
clean_env=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$work" "TMPDIR=$work")

echo "== install ClusterLite to $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "install"; }
for f in bin/clusterlite lib/clusterlite/plugins/users.so lib/clusterlite/plugins/schema.so share/clusterlite/web/index.html \
  etc/clusterlite/clusterlite.json include/clusterlite/plugin.h include/clusterlite/statement_cache.h \
  lib/cmake/ClusterLite/ClusterLiteConfig.cmake lib/cmake/ClusterLite/ClusterLitePlugin.cmake; do
  test -e "$prefix/$f" || fail "the prefix has no $f"
done
test -x "$prefix/bin/clusterlite" || fail "bin/clusterlite is not executable"

echo "== build examples/notes-plugin against it (no build type given: Release)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
"${clean_env[@]}" cmake -S "$source_dir/examples/notes-plugin" -B "$work/notes-build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; fail "configure the example"; }
grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$work/notes-build/CMakeCache.txt" ||
  fail "the example is not built Release: $(grep CMAKE_BUILD_TYPE: "$work/notes-build/CMakeCache.txt")"
"${clean_env[@]}" cmake --build "$work/notes-build" -j2 >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "build the example"; }
test -f "$work/notes-build/plugins/notes.so" || fail "notes.so not built"

plugins="$prefix/lib/clusterlite/plugins"
cp "$work/notes-build/plugins/notes.so" "$plugins/.notes.so.new"
mv -f "$plugins/.notes.so.new" "$plugins/notes.so"

echo "== the installed config as it is"
"${clean_env[@]}" "$prefix/bin/clusterlite" --check-config --config "$prefix/etc/clusterlite/clusterlite.json" \
  >"$work/check.log" 2>&1 || { cat "$work/check.log"; fail "--check-config of the installed config"; }
grep -q "standalone mode, database $prefix/var/lib/clusterlite/clusterlite.db, 2 plugin(s): notes(notes, version 1) users(users" \
  "$work/check.log" || fail "--check-config of the installed config says: $(cat "$work/check.log")"

# A free port: bind port 0 and read what the kernel chose.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Beside the installed config, so its relative paths hold: the installed one
# plus the notes plugin's setting.
sed -e 's|"plugins": { "directory": "\([^"]*\)" }|"plugins": { "directory": "\1", "configure": { "notes": { "settings": { "max_title_length": 12 } } } }|' \
  -e 's|"node_id": "clusterlite-1"|"node_id": "oot-1", "mode": "standalone"|' \
  "$prefix/etc/clusterlite/clusterlite.json" >"$prefix/etc/clusterlite/oot.json"
grep -q max_title_length "$prefix/etc/clusterlite/oot.json" || fail "could not derive a config from the installed one"

echo "== start $prefix/bin/clusterlite on 127.0.0.1:$port"
"${clean_env[@]}" "CLUSTERLITE_HTTP_PORT=$port" \
  "$prefix/bin/clusterlite" --config "$prefix/etc/clusterlite/oot.json" >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -m 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$node_pid" 2>/dev/null || fail "the node exited"
  sleep 0.1
done
curl -fsS -m 1 "http://127.0.0.1:$port/healthz" >/dev/null || fail "the node did not become healthy"
grep -q "\[plugin notes\] max_title_length = 12" "$work/node.log" || fail "the setting did not reach the factory"
grep -q "loaded $plugins/notes.so serving table notes" "$work/node.log" || fail "notes.so not loaded from the prefix"
grep -q "standalone mode, database $prefix/var/lib/clusterlite/clusterlite.db" "$work/node.log" ||
  fail "the node does not keep its database in the prefix"

# post <path> <json>: POSTs and prints "<status>\n<body>".
post() {
  curl -sS -m 10 -w '\n%{http_code}' -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$port$1"
}

echo "== POST /notes"
created=$(post /notes '{"title":"Shopping","body":"milk, eggs"}')
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
assert sys.argv[2][14] == "7", f"not a UUIDv7: {sys.argv[2]}"
assert note["title"] == "Shopping" and note["body"] == "milk, eggs", note
assert note["created_at"] and note["created_at"] == note["updated_at"], note
EOF
listed=$(curl -fsS -m 10 "http://127.0.0.1:$port/notes") || fail "GET /notes"
[[ "$listed" == *"$id"* ]] || fail "GET /notes does not list $id: $listed"

echo "== the configured max_title_length (12) is enforced"
status=$(curl -sS -m 10 -o "$work/long.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"title":"Thirteen char"}' "http://127.0.0.1:$port/notes")
[[ "$status" == 400 ]] || fail "a 13-character title answered $status: $(cat "$work/long.json")"
grep -q '"field":"title"' "$work/long.json" || fail "the 400 does not name the title field: $(cat "$work/long.json")"

echo "== POST /users, GET /users/{id}"
created=$(post /users '{"name":"Ada Lovelace","email":"ada@example.org"}')
status=${created##*$'\n'}
body=${created%$'\n'*}
[[ "$status" == 201 ]] || fail "POST /users answered $status: $body"
uid=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["id"])' "$body")
got=$(curl -fsS -m 10 "http://127.0.0.1:$port/users/$uid") || fail "GET /users/$uid"
[[ "$got" == *'"email":"ada@example.org"'* ]] || fail "GET /users/$uid returned $got"

echo "== the web UI from the prefix"
# Read the whole page first: grep -q stops reading at the first match, which
# would fail curl's write (and the pipeline) once the page is long enough.
ui_page=$(curl -fsS -m 10 "http://127.0.0.1:$port/ui/") || fail "GET /ui/ failed"
grep -qi "<html" <<<"$ui_page" || fail "GET /ui/ does not serve the UI"

echo "== stop the node"
kill -TERM "$node_pid"
for _ in $(seq 1 150); do
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$node_pid" 2>/dev/null && fail "the node did not stop within 15 s of SIGTERM"
wait "$node_pid" || fail "the node exited non-zero after SIGTERM"
node_pid=""
echo "PASS: a node run from the installed prefix serves users and the notes plugin built against it (Release)"
