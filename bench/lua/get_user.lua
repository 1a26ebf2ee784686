-- GET /users/{id}, each request a random id from the file BENCH_IDS (one id
-- per line, all existing users).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
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
  return wrk.format("GET", "/users/" .. ids[math.random(#ids)])
end
