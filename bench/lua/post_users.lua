-- POST /users with a new user per request. Emails are unique per run
-- (BENCH_RUN), thread and request, so every write is a successful create.
-- BENCH_POSITION=cookie makes each thread behave like a browser: it keeps the
-- clusterlite_position cookie of its latest answer and sends it with the
-- next request. BENCH_IDEMPOTENCY=1 sends an Idempotency-Key, new per request.
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

local with_cookie = os.getenv("BENCH_POSITION") == "cookie"
local with_key = os.getenv("BENCH_IDEMPOTENCY") == "1"
local cookie = nil

function request()
  counter = counter + 1
  local body = string.format('{"name":"Bench User","email":"b%s-%d-%d@bench.example"}', run, thread_id, counter)
  -- Every variant makes a key and a table of headers, so that rows which
  -- differ by a header compare the node's work for it, not wrk's.
  local key = string.format("k%s-%d-%d", run, thread_id, counter)
  local headers = {["Content-Type"] = "application/json"}
  if cookie then headers["Cookie"] = cookie end
  if with_key then headers["Idempotency-Key"] = key end
  return wrk.format(nil, nil, headers, body)
end

if with_cookie then
  function response(status, headers, body)
    local set = headers["Set-Cookie"]
    if set then cookie = string.match(set, "^([^;]+)") end
  end
end
