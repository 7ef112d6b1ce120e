-- The fraud demo's alerts (`stele demo fraud --data-dir DIR`), one row each, whichever rule
-- wrote it: the three processors append to the category `alerts`.
-- Query with  SELECT rule, subject, at, amount FROM fraud_alerts ORDER BY at
-- @view fraud_alerts
-- @categories alerts

CREATE TABLE fraud_alerts (
    alert_id TEXT PRIMARY KEY,
    subject  TEXT NOT NULL,
    rule     TEXT NOT NULL,
    at       TEXT NOT NULL,
    amount   INTEGER NOT NULL
);

-- Withdrawn within the 10-minute window.
-- @on WithdrawalBurst (window_start text, total integer)
INSERT INTO fraud_alerts VALUES (:event_id, :stream_id, 'withdrawal burst', :data.window_start, :data.total)
ON CONFLICT (alert_id) DO NOTHING;

-- Transferred after the login from another country.
-- @on NewCountryTransfer (amount integer, transferAt text)
INSERT INTO fraud_alerts VALUES (:event_id, :stream_id, 'new country, then a transfer', :data.transferAt, :data.amount)
ON CONFLICT (alert_id) DO NOTHING;

-- Authorized and never settled within 15 minutes.
-- @on AuthorizationNotSettled (amount integer, authorizedAt text)
INSERT INTO fraud_alerts VALUES (:event_id, :stream_id, 'authorization not settled', :data.authorizedAt, :data.amount)
ON CONFLICT (alert_id) DO NOTHING;
