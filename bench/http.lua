-- wrk script of H1 (bench/http.py): each request is the next line of a file, "path<TAB>token" (token may be empty:
-- no Authorization header), so 2,000 students click their own links instead of one student 6,000 times. Every
-- request carries X-Forwarded-Proto: https, as the TLS proxy in front of gunicorn sets it (README, "Production
-- settings"). At the end one line "H1RESULT {json}" with the counts and the latency percentiles (microseconds).
--
--   wrk -t2 -c32 -d10s -s bench/http.lua http://127.0.0.1:PORT -- requests.tsv 2

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  local total_threads = tonumber(args[2]) or 1
  requests = {}
  for line in io.lines(args[1]) do
    local path, token = line:match("^([^\t]+)\t?(.*)$")
    local headers = { ["X-Forwarded-Proto"] = "https" }
    if token ~= "" then
      headers["Authorization"] = "Token " .. token
    end
    table.insert(requests, wrk.format("GET", path, headers))
  end
  -- Each thread starts at its own share of the file, so two threads never click the same link at the same moment.
  position = math.floor(thread_number * #requests / total_threads) + 1
end

function request()
  local next_request = requests[position]
  position = position % #requests + 1
  return next_request
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'H1RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max
  ))
end
