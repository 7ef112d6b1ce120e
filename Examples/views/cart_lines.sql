-- The shopping cart example: what each cart holds now, and every step kept beside it.
-- @view cart_lines
-- @categories carts

CREATE TABLE cart_lines (
    cart     TEXT NOT NULL,
    sku      TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (cart, sku)
);
CREATE TABLE carts (
    cart        TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    steps       INTEGER NOT NULL,
    checked_out TEXT
);
CREATE TABLE checkout_lines (
    cart     TEXT NOT NULL,
    sku      TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (cart, sku)
);

-- @on ItemAdded (sku text, quantity integer)
INSERT INTO cart_lines (cart, sku, quantity) VALUES (:stream_id, :data.sku, :data.quantity)
ON CONFLICT (cart, sku) DO UPDATE SET quantity = cart_lines.quantity + :data.quantity;
INSERT INTO carts (cart, status, steps) VALUES (:stream_id, 'open', 1)
ON CONFLICT (cart) DO UPDATE SET steps = carts.steps + 1;

-- @on ItemRemoved (sku text, quantity integer)
UPDATE cart_lines SET quantity = quantity - :data.quantity WHERE cart = :stream_id AND sku = :data.sku;
DELETE FROM cart_lines WHERE cart = :stream_id AND sku = :data.sku AND quantity <= 0;
UPDATE carts SET steps = steps + 1 WHERE cart = :stream_id;

-- `items` is an object of sku → quantity: SQLite's json_each turns it into rows.
-- @on CartCheckedOut (items json)
INSERT INTO checkout_lines (cart, sku, quantity) SELECT :stream_id, key, value FROM json_each(:data.items);
UPDATE carts SET status = 'checked out', steps = steps + 1, checked_out = :appended_at WHERE cart = :stream_id;
