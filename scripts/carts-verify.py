#!/usr/bin/env python3
"""Folds the carts category read over HTTP into what each service's view must hold, and waits
until every service's store holds exactly that: as long as the stores keep changing, failing
once they have not changed for the stall interval (STELE_TEST_STALL_SECONDS, 120 s).

    carts-verify.py HTTP_BASE INVENTORY_SQLITE ANALYTICS_SQLITE SHIPPING_PG_URL FRAUD_SQLITE
"""
import json, os, subprocess, sqlite3, sys, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Clients"))
from progress import Progress  # noqa: E402

base, inventory_db, analytics_db, shipping_url, fraud_db = sys.argv[1:6]
LIMIT = 40


def events():
    after, out = "", []
    while True:
        page = json.load(urllib.request.urlopen(f"{base}/categories/carts/events?limit=1000&after={after}"))
        out += page["events"]
        # The end is an empty page: a page of big events can be short before it.
        if not page["events"]:
            return out
        after = page["next"]


def expected(log):
    stock, totals, contents, shipments, seen, alerts = {}, {}, {}, {}, {}, {}
    for event in log:
        kind, data, cart = event["type"], event["data"], event["subject"]
        seen[kind] = seen.get(kind, 0) + 1
        if kind == "ItemAdded":
            sku, q = data["sku"], data["quantity"]
            stock.setdefault(sku, [0, 0])[0] += q
            totals.setdefault(sku, [0, 0, 0, 0])[0] += q
            contents.setdefault(cart, {})[sku] = contents.get(cart, {}).get(sku, 0) + q
        elif kind == "ItemRemoved":
            sku, q = data["sku"], data["quantity"]
            stock[sku][0] -= q
            totals.setdefault(sku, [0, 0, 0, 0])[1] += q
            contents[cart][sku] -= q
        elif kind == "CartCheckedOut":
            for sku, q in data["items"].items():
                stock[sku][0] -= q
                stock[sku][1] += q
                totals[sku][2] += q
                totals[sku][3] += 1
            held = {sku: q for sku, q in contents.get(cart, {}).items() if q > 0}
            shipments[cart] = (len(held), sum(held.values()))
            units = sum(data["items"].values())
            if units > LIMIT:
                alerts[cart] = units
    return ({k: tuple(v) for k, v in stock.items()}, {k: tuple(v) for k, v in totals.items()}, shipments, seen, alerts)


def actual():
    def rows(path, sql):
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                return db.execute(sql).fetchall()
        except sqlite3.Error:
            return []
    def current(directory, name):
        try:
            generation = open(f"{directory}/{name}/CURRENT").read().strip()
        except OSError:
            generation = "1"  # no CURRENT until a rebuild: generation 1
        return f"{directory}/{name}/{generation}.sqlite"
    stock = {r[0]: (r[1], r[2]) for r in rows(current(inventory_db, "inventory"), "SELECT sku, in_carts, sold FROM stock")}
    totals = {r[0]: tuple(r[1:]) for r in rows(current(analytics_db, "analytics"), "SELECT sku, added, removed, checked_out, checkouts FROM product_totals")}
    out = subprocess.run(["psql", shipping_url, "-At", "-F", "|", "-c", "SELECT cart, lines, units FROM shipping.shipments"],
                         capture_output=True, text=True)
    shipments = {}
    for line in out.stdout.splitlines():
        cart, lines, units = line.split("|")
        shipments[cart] = (int(lines), int(units))
    seen = {r[0]: r[1] for r in rows(fraud_db, "SELECT type, events FROM seen")}
    alerts = {r[0]: r[1] for r in rows(fraud_db, "SELECT cart, units FROM alerts")}
    return stock, totals, shipments, seen, alerts


log = events()
want = expected(log)
names = ["inventory", "analytics", "shipping", "fraud (events seen per type)", "fraud (alerts)"]
# Every store state not seen before restarts the clock (a store flapping between two states,
# say on a failing read, is no progress).
progress = Progress("every service's store to equal the fold of the log")
states = set()
while True:
    got = actual()
    wrong = [name for name, w, g in zip(names, want, got) if w != g]
    if not wrong:
        break
    states.add(repr([sorted(g.items()) for g in got]))
    try:
        progress.check(len(states), shown="still wrong: " + ", ".join(wrong))
    except SystemExit as stalled:
        for name, w, g in zip(names, want, got):
            if w != g:
                print(f"{name}: expected {sorted(w.items())[:8]}… got {sorted(g.items())[:8]}…")
        print(stalled)
        sys.exit(1)
    time.sleep(0.3)
print(f"{len(log)} events folded: inventory {len(want[0])} products, analytics {len(want[1])}, "
      f"shipping {len(want[2])} shipments, fraud saw {sum(want[3].values())} events and raised {len(want[4])} alerts — every service agrees")
