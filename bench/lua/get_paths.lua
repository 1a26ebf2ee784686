-- GET requests spread over the paths of the file BENCH_PATHS (one path with
-- its query per line, e.g. /users?email=u0000042.run%40bench.example), each
-- request a random line of it.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end
thread_id = 0
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() * 100 + thread_id)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
