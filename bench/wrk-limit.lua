-- wrk script for bench/run.sh: each thread stops after BENCH_WRK_LIMIT
-- responses and drops a marker file BENCH_WRK_DONE.<thread>, so run.sh can
-- end wrk (SIGINT) as soon as every thread is done instead of waiting for -d.
-- This makes the request count of a capture exact, whatever the machine's speed.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local limit = tonumber(os.getenv("BENCH_WRK_LIMIT") or "0") or 0
local marker = os.getenv("BENCH_WRK_DONE")
local n = 0

function response(status, headers, body)
  n = n + 1
  if limit > 0 and n >= limit then
    if marker then
      local f = io.open(marker .. "." .. tostring(id), "w")
      if f then f:close() end
    end
    wrk.thread:stop()
  end
end
