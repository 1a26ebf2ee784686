-- GET /users/{id} (or /<BENCH_TABLE>/{id}), each request a random id from the
-- file BENCH_IDS (one id per line, all existing entities). Without BENCH_CONNECTION the requests carry
-- no Connection header (wrk's default: HTTP/1.1, persistent by default);
-- BENCH_CONNECTION=keep-alive sends `Connection: keep-alive` explicitly;
-- BENCH_POSITION=<token> sends a session position (ClusterLite-Position).
-- Each thread formats the request of every id once, at start: wrk's Lua then
-- does the same work per request whatever headers are sent, so rows that
-- differ by a header compare the node's cost of it, not the client's.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end
local connection = os.getenv("BENCH_CONNECTION")
if connection and #connection > 0 then
  wrk.headers["Connection"] = connection
end
local prefix = "/" .. (os.getenv("BENCH_TABLE") or "users") .. "/"
local position = os.getenv("BENCH_POSITION")
if position and #position > 0 then
  wrk.headers["ClusterLite-Position"] = position
end
thread_id = 0
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

local requests = {}

function init(args)
  math.randomseed(os.time() * 100 + thread_id)
  for i, id in ipairs(ids) do
    requests[i] = wrk.format("GET", prefix .. id)
  end
end

function request()
  return requests[math.random(#requests)]
end
