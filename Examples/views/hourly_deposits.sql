-- Deposits per account and hour of event time: a processor, not a view. Its results are events
-- (type HourlyDeposits, one stream per account in the category hourly-deposits), appended once
-- each hour's window has closed: when an event more than a minute past the hour's end arrives.
-- `stele serve --views Examples/views` runs it beside the views; `stele processors list` shows it.
-- @processor hourly_deposits
-- @output hourly-deposits
-- @event-type HourlyDeposits
-- @out-of-order 1 minute
SELECT stream_id AS account, window_start, window_end, COUNT(*) AS deposits, SUM(data.amount) AS total
FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '1' HOUR))
WHERE type = 'MoneyDeposited'
GROUP BY stream_id, window_start, window_end
