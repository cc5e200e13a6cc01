-- wrk script: POST /v1/orders with a unique Idempotency-Key per request.
-- SETTLE_BENCH_KEY (the merchant's API key) comes from the environment. With
-- SETTLE_BENCH_DELAY_MS each connection waits that long after each answer before its next
-- request, which paces the load near connections × 1000 / (delay + latency) requests per second.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
  table.insert(threads, thread)
end

function init(args)
  key = os.getenv("SETTLE_BENCH_KEY")
  run = os.getenv("SETTLE_BENCH_RUN") or tostring(os.time())
  body = '{"amount":1299,"currency":"usd","payment_method":"pm_card_ok","description":"load test"}'
end

local pause = tonumber(os.getenv("SETTLE_BENCH_DELAY_MS") or "")
if pause then
  function delay()
    return pause
  end
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/orders", {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = run .. "-" .. id .. "-" .. counter,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("orders_per_s=%.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms=%.2f\np99_ms=%.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("errors=%d\n", errors))
end
