-- The inventory example: stock on hand per item, shipments in, orders out, returns back.
-- @view stock
-- @categories inventory

CREATE TABLE stock (
    item      TEXT PRIMARY KEY,
    available INTEGER NOT NULL,
    received  INTEGER NOT NULL DEFAULT 0,
    shipped   INTEGER NOT NULL DEFAULT 0,
    returned  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE orders (
    item     TEXT NOT NULL,
    order_id TEXT NOT NULL,
    shipped  INTEGER NOT NULL,
    returned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (item, order_id)
);

-- @on ShipmentReceived (shipment text, quantity integer)
INSERT INTO stock (item, available, received) VALUES (:stream_id, :data.quantity, :data.quantity)
ON CONFLICT (item) DO UPDATE SET available = stock.available + :data.quantity, received = stock.received + :data.quantity;

-- @on OrderShipped (order text, quantity integer)
UPDATE stock SET available = available - :data.quantity, shipped = shipped + :data.quantity WHERE item = :stream_id;
INSERT INTO orders (item, order_id, shipped) VALUES (:stream_id, :data.order, :data.quantity)
ON CONFLICT (item, order_id) DO UPDATE SET shipped = orders.shipped + :data.quantity;

-- @on ItemsReturned (order text, quantity integer)
UPDATE stock SET available = available + :data.quantity, returned = returned + :data.quantity WHERE item = :stream_id;
UPDATE orders SET returned = returned + :data.quantity WHERE item = :stream_id AND order_id = :data.order;
