import Stele

/// The seed's event-streaming example: one event source, the `carts` category, consumed by
/// several services, each folding it into its own view in its own store — inventory and
/// analytics in SQLite, shipping in PostgreSQL — and a fraud check written in Python as a
/// Kafka consumer group (`Examples/carts/fraud.py`). None of them talks to another; each can
/// be stopped, killed and restarted and picks up from its own checkpoint.
public enum CartServices {
    /// A service: its name, the database it needs, and its view definition.
    public struct Service: Sendable {
        public var name: String
        /// Whether the definition is written for PostgreSQL (shipping) or SQLite; shipping's SQL
        /// also runs on SQLite, the others use SQLite's `json_each`.
        public var prefersPostgres: Bool
        public var definition: String
    }

    public static let inventory = Service(name: "inventory", prefersPostgres: false, definition: """
        -- @view inventory
        -- @categories carts
        -- Units of each product sitting in open carts, and sold (checked out).
        CREATE TABLE stock (
            sku      TEXT PRIMARY KEY,
            in_carts INTEGER NOT NULL DEFAULT 0,
            sold     INTEGER NOT NULL DEFAULT 0
        );
        -- @on ItemAdded (sku text, quantity integer)
        INSERT INTO stock (sku, in_carts) VALUES (:data.sku, :data.quantity)
        ON CONFLICT (sku) DO UPDATE SET in_carts = in_carts + excluded.in_carts;
        -- @on ItemRemoved (sku text, quantity integer)
        UPDATE stock SET in_carts = in_carts - :data.quantity WHERE sku = :data.sku;
        -- @on CartCheckedOut (items json)
        UPDATE stock SET in_carts = in_carts - (SELECT value FROM json_each(:data.items) WHERE key = stock.sku),
                         sold = sold + (SELECT value FROM json_each(:data.items) WHERE key = stock.sku)
        WHERE sku IN (SELECT key FROM json_each(:data.items));
        """)

    public static let shipping = Service(name: "shipping", prefersPostgres: true, definition: """
        -- @view shipping
        -- @categories carts
        -- A shipment per checked-out cart. The service keeps each cart's contents itself, so its
        -- SQL needs no JSON functions and runs on PostgreSQL and SQLite alike.
        CREATE TABLE cart_contents (
            cart     TEXT NOT NULL,
            sku      TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            PRIMARY KEY (cart, sku)
        );
        CREATE TABLE shipments (
            cart           TEXT PRIMARY KEY,
            lines          INTEGER NOT NULL,
            units          INTEGER NOT NULL,
            checked_out_at TEXT NOT NULL
        );
        -- @on ItemAdded (sku text, quantity integer)
        INSERT INTO cart_contents (cart, sku, quantity) VALUES (:stream_id, :data.sku, :data.quantity)
        ON CONFLICT (cart, sku) DO UPDATE SET quantity = cart_contents.quantity + excluded.quantity;
        -- @on ItemRemoved (sku text, quantity integer)
        UPDATE cart_contents SET quantity = quantity - :data.quantity WHERE cart = :stream_id AND sku = :data.sku;
        -- @on CartCheckedOut (items json)
        INSERT INTO shipments (cart, lines, units, checked_out_at)
        SELECT :stream_id, count(*), coalesce(sum(quantity), 0), :appended_at FROM cart_contents
        WHERE cart = :stream_id AND quantity > 0;
        """)

    public static let analytics = Service(name: "analytics", prefersPostgres: false, definition: """
        -- @view analytics
        -- @categories carts
        -- Per-product totals: units added, removed and checked out, and in how many checkouts.
        CREATE TABLE product_totals (
            sku         TEXT PRIMARY KEY,
            added       INTEGER NOT NULL DEFAULT 0,
            removed     INTEGER NOT NULL DEFAULT 0,
            checked_out INTEGER NOT NULL DEFAULT 0,
            checkouts   INTEGER NOT NULL DEFAULT 0
        );
        -- @on ItemAdded (sku text, quantity integer)
        INSERT INTO product_totals (sku, added) VALUES (:data.sku, :data.quantity)
        ON CONFLICT (sku) DO UPDATE SET added = added + excluded.added;
        -- @on ItemRemoved (sku text, quantity integer)
        INSERT INTO product_totals (sku, removed) VALUES (:data.sku, :data.quantity)
        ON CONFLICT (sku) DO UPDATE SET removed = removed + excluded.removed;
        -- @on CartCheckedOut (items json)
        INSERT INTO product_totals (sku, checked_out, checkouts) SELECT key, value, 1 FROM json_each(:data.items) WHERE true
        ON CONFLICT (sku) DO UPDATE SET checked_out = checked_out + excluded.checked_out, checkouts = checkouts + 1;
        """)

    public static let all = [inventory, shipping, analytics]

    /// Products the shoppers pick from.
    public static let products = ["trousers", "shirt", "socks", "jacket", "scarf", "boots", "hat", "belt"]

    /// Scripted shoppers: each cart adds a few products, removes some, and most check out; one
    /// in twenty buys far more than anyone should (the fraud check's catch). Deterministic for a
    /// seed. Commands go through the cart's rules, so every event is one the cart allowed.
    public static func shop(_ repository: Repository<ShoppingCart.Rules>, carts: Int, seed: UInt64, prefix: String) async throws -> Int {
        var random = SplitMix(seed: seed)
        var events = 0
        for index in 0..<carts {
            let cart = "\(prefix)-\(index)"
            let bulk = random.next() % 20 == 0
            for _ in 0..<(1 + random.next() % 4) {
                let sku = products[Int(random.next() % UInt64(products.count))]
                let quantity = bulk ? 10 + Int(random.next() % 20) : 1 + Int(random.next() % 3)
                events += try await repository.handle(.add(sku: sku, quantity: quantity), on: cart).events.count
            }
            let state = try await repository.load(cart).state
            if random.next() % 3 == 0, let (sku, held) = state.items.first {
                events += try await repository.handle(.remove(sku: sku, quantity: max(1, held / 2)), on: cart).events.count
            }
            if random.next() % 5 != 0 {
                do { events += try await repository.handle(.checkOut, on: cart).events.count } catch ShoppingCart.Refusal.empty {}
            }
        }
        return events
    }

    /// A small deterministic generator (SplitMix64), so a scripted run is the same every time.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
