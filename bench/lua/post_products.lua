-- POST /products with a new product per request: the table the bench cluster
-- declares for the schema plugin (bench/run, BENCH_DECLARED_TABLES). SKUs are
-- unique per run (BENCH_RUN), thread and request, so every write is a create.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local run = string.upper(os.getenv("BENCH_RUN") or tostring(os.time())):gsub("[^A-Z0-9]", "")
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
  local body = string.format('{"sku":"B%s-%d-%d","name":"Bench Product","price_cents":%d}', string.sub(run, -12),
                             thread_id, counter, counter % 10000)
  return wrk.format(nil, "/products", nil, body)
end
