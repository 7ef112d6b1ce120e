-- wrk script for scripts/bench-http.sh: each request appends EVENTS events (one JSON body) to a
-- random one of 10,000 streams of the category `bench`.
local events = tonumber(os.getenv("EVENTS") or "1")
math.randomseed(os.time())
local one = '{"type":"Deposited","data":{"amount":10,"note":"' .. string.rep("x", 60) .. '"}}'
local body = one
if events > 1 then
    local parts = {}
    for i = 1, events do parts[i] = one end
    body = "[" .. table.concat(parts, ",") .. "]"
end

request = function()
    return wrk.format("POST", "/streams/bench/account-" .. math.random(0, 9999), {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
    io.write(string.format("REQUESTS %d NON2XX %d SECONDS %.2f P50_MS %.2f P99_MS %.2f\n", summary.requests, summary.errors.status,
        summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
