-- Account balances: the bank account example's fold, one row per account.
-- Load with `stele serve --views Examples/views`; query with
--   SELECT * FROM balances WHERE account = 'alice'
-- @view balances
-- @categories accounts
-- @on-error park

CREATE TABLE balances (
    account     TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    balance     INTEGER NOT NULL,
    deposits    INTEGER NOT NULL DEFAULT 0,
    withdrawals INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);

-- @on AccountOpened (owner text, initialDeposit integer)
INSERT INTO balances (account, owner, balance, updated_at)
VALUES (:stream_id, :data.owner, :data.initialDeposit, :appended_at);

-- Schema version 1 of MoneyDeposited called the amount `value`.
-- @on MoneyDeposited v1 (value integer)
UPDATE balances SET balance = balance + :data.value, deposits = deposits + 1, updated_at = :appended_at
WHERE account = :stream_id;

-- @on MoneyDeposited (amount integer)
UPDATE balances SET balance = balance + :data.amount, deposits = deposits + 1, updated_at = :appended_at
WHERE account = :stream_id;

-- @on MoneyWithdrawn (amount integer)
UPDATE balances SET balance = balance - :data.amount, withdrawals = withdrawals + 1, updated_at = :appended_at
WHERE account = :stream_id;
