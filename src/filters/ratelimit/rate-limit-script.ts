/**
 * The atomic Lua script behind the global rate limit: it checks every descriptor of one request
 * against its window counter(s) in Redis and, only when none is over its limit, increments them
 * all (refused requests consume no quota). Time comes from Redis (`TIME`) so every sidecar sharing
 * the Redis agrees on the window, unless the caller passes an explicit time (tests). Fixed windows
 * are aligned to the unit; the sliding window is the two-bucket approximation (previous window
 * weighted by the part of it that still overlaps the sliding window, plus the current window).
 *
 * Call: `EVALSHA sha N key_1..key_N now_ms sliding hits limit_1 window_ms_1 .. limit_N window_ms_N`
 * - `key_i`: the descriptor's base key; the script appends `:<window index>`;
 * - `now_ms`: '' to use Redis server time, or epoch milliseconds;
 * - `sliding`: '1' sliding window, '0' fixed window; `hits`: requests to add (1).
 * Reply: `{allowed (1|0), limit, remaining, reset_ms, window_ms}` for the most constraining
 * descriptor (the one with the least quota left); `remaining` is after this request when allowed,
 * else 0; `reset_ms` is the time left in the current window.
 * Counters expire after one window (fixed) or two (sliding, which reads the previous one).
 */

export const RATE_LIMIT_LUA = `
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local sliding = ARGV[2] == '1'
local hits = tonumber(ARGV[3])
local n = #KEYS
local cur_keys = {}
local windows = {}
local allowed = 1
local best_left = nil
local best_limit = 0
local best_reset = 0
local best_window = 0
for i = 1, n do
  local limit = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  local idx = math.floor(now / window)
  local elapsed = now - idx * window
  local cur_key = KEYS[i] .. ':' .. string.format('%d', idx)
  cur_keys[i] = cur_key
  windows[i] = window
  local used = tonumber(redis.call('GET', cur_key) or '0')
  if sliding then
    local prev = tonumber(redis.call('GET', KEYS[i] .. ':' .. string.format('%d', idx - 1)) or '0')
    used = used + prev * (window - elapsed) / window
  end
  local left = limit - used
  if left < hits then allowed = 0 end
  if best_left == nil or left < best_left then
    best_left = left
    best_limit = limit
    best_reset = window - elapsed
    best_window = window
  end
end
if allowed == 0 then
  return {0, best_limit, 0, best_reset, best_window}
end
for i = 1, n do
  local c = redis.call('INCRBY', cur_keys[i], hits)
  if c == hits then
    if sliding then
      redis.call('PEXPIRE', cur_keys[i], windows[i] * 2)
    else
      redis.call('PEXPIRE', cur_keys[i], windows[i])
    end
  end
end
return {1, best_limit, math.floor(best_left - hits), best_reset, best_window}
`;

/** The command name the script is registered under with ioredis `defineCommand`. */
export const RATE_LIMIT_COMMAND = 'remoraRateLimit';
