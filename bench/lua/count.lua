-- Counts every answer by status, across wrk's threads, and prints the totals after the
-- run as one line the bench scripts read:
--   bench-count: answers=<n> expected=<n> other=<n>
-- BENCH_EXPECT is "2xx" (default) or one status, e.g. "304" for conditional requests.
-- Loaded on its own (plain GETs) or with dofile(os.getenv("BENCH_COUNT_LUA")) from a
-- script that builds requests.
local expect = os.getenv("BENCH_EXPECT") or "2xx"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

answers, expected, other = 0, 0, 0

function response(status, headers, body)
  answers = answers + 1
  local good
  if expect == "2xx" then
    good = status >= 200 and status <= 299
  else
    good = status == tonumber(expect)
  end
  if good then expected = expected + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local a, e, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answers")
    e = e + t:get("expected")
    o = o + t:get("other")
  end
  io.write(string.format("bench-count: answers=%d expected=%d other=%d\n", a, e, o))
end
