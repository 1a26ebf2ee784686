-- Shared by the wrk scripts: prints one machine-readable line when the run
-- ends. Latencies are wrk's per-request latencies (send to full response);
-- errors count connect/read/write/timeout failures and non-2xx answers.
function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors, e.status))
end
