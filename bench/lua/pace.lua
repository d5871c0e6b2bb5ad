-- Paces a wrk thread to RATE requests per second on a fixed schedule, whatever the
-- answers' latency, so a run measures the service at a chosen load rather than at the
-- most it takes. Loaded with dofile(os.getenv("BENCH_PACE_LUA")) by a script that builds
-- requests, when RATE is set. Each connection asks for the next slot before it sends;
-- wrk waits whole milliseconds, so a request may go up to 1 ms early, never late.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval = 1000 / tonumber(os.getenv("RATE"))
local next_at = nil

function delay()
  local now = now_ms()
  next_at = (next_at or now) + interval
  -- Far behind (the service stalled): start again from now rather than make up for the
  -- stall in a burst the schedule never meant.
  if next_at < now - 100 then
    next_at = now
  end
  local wait = next_at - now
  if wait > 0 then
    return wait
  end
  return 0
end
