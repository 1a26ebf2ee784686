-- POST /users with a new user per request. Emails are unique per run
-- (BENCH_RUN), thread and request, so every write is a successful create.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local run = os.getenv("BENCH_RUN") or tostring(os.time())
local threads = 0
local counter = 0
thread_id = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = string.format('{"name":"Bench User","email":"b%s-%d-%d@bench.example"}', run, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end
