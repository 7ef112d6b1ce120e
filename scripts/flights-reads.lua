-- wrk script for the flights load: each request reads one random generated flight's row from
-- the seats_left view (the flight ids `stele demo flights` generates: SK<1000+i>-2026-12-<i%7+1>).
local flights = tonumber(os.getenv("FLIGHTS") or "100")
math.randomseed(os.time())

request = function()
    local i = math.random(0, flights - 1)
    local path = string.format("/views/seats_left/tables/seats_left/rows/SK%d-2026-12-%02d", 1000 + i, i % 7 + 1)
    return wrk.format("GET", path)
end

done = function(summary, latency, requests)
    io.write(string.format("READS %d ERRORS %d NON2XX %d SECONDS %.2f P50_MS %.2f P99_MS %.2f\n",
        summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.errors.status, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
