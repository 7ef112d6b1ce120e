#!/usr/bin/env python3
"""The web console in a real browser: headless Chromium (Debian's chromium and chromedriver,
driven by selenium) against a live `stele serve` filled with the demos' data.

- A data directory gets the bank, cart and inventory demos (`stele demo … --data-dir`); a
  source node holds a topic that the served node mirrors (`--mirror-source`), slowly, so it lags.
- Overview: the demos' categories, a consumer group, the views and the mirror topic with its lag
  (records and seconds), live: the lag shown falls to 0 without a reload.
- Topics: a topic created from the form; the message browser shows kcat's records with headers
  and JSON pretty-printed; a hostile value (HTML) is shown as text, never run; the live tail
  receives a record produced during the test; a record produced from the form reads back;
  delete needs the name typed.
- Streams: a stream's events with their versions; the state as of the first event's time holds
  one event; an append with a stale expected version shows the 409 with expected and actual; one
  with the right version is appended.
- Consumer groups: a group's lag after its consumer stops (committed 10 of 32 records); its
  offsets reset to the earliest and the latest, and refused while a consumer is in it.
- Views: a query's result table; a rebuild's progress reaching 100 %; the change feed shows an
  event appended during the test.
- Processors: the example processor in the overview and its list; its results arriving live
  once an event closes the demo deposits' hour; a rebuild's new generation.
- Every page: each form control has a label and all text meets WCAG AA contrast; the sections
  are reached and opened with the keyboard alone (the skip link first).
- Under ACLs (`--authorizer acl`): the page asks for a token; signed in, a principal sees only
  the topics and views it may describe, and a topic it may not is refused.
Screenshots of each page are saved in the run's directory (STELE_SCREENSHOTS, else the work
directory). Waits are for what the page shows, never for a fixed time.

usage: console.py BIN_DIR
"""
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from progress import Progress
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

BIN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = tempfile.mkdtemp(prefix="stele-console-")
shots = os.environ.get("STELE_SCREENSHOTS") or work
os.makedirs(shots, exist_ok=True)
processes = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    sys.exit(f"FAIL console: {message} (logs in {work})")


def serve(name, data, *extra):
    kafka, http = free_port(), free_port()
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", data, "--kafka-port", str(kafka),
                                "--http-port", str(http), *extra], stdout=log, stderr=log)
    processes.append(process)
    progress = Progress(f"{name} to answer /health")
    while True:
        if process.poll() is not None:
            fail(f"{name} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
            return kafka, http
        except Exception:
            progress.check(0)
            time.sleep(0.05)


def http_json(http, path, body=None, headers=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{http}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})} if data else (headers or {}))
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return json.loads(text) if text else None


def wait_for(what, condition):
    """Polls condition() (which returns a truthy value or a falsy progress token) until truthy."""
    progress = Progress(what)
    while True:
        try:
            value = condition()
        except Exception:  # the page is between renders
            value = None
        if value:
            return value
        progress.check(str(value))
        time.sleep(0.1)


def stale_safe(action):
    """Runs action, again if the page re-rendered the element under it (live pages do)."""
    for _ in range(20):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.05)
    return action()


def text(selector):
    return stale_safe(lambda: browser.find_element(By.CSS_SELECTOR, selector).text)


def column(table_label):
    return stale_safe(lambda: [row.find_elements(By.TAG_NAME, "td")[0].text
                               for row in browser.find_elements(By.CSS_SELECTOR, f"table[aria-label='{table_label}'] tbody tr")])


def page(hash_):
    browser.get(f"http://127.0.0.1:{http}/{hash_}")
    loaded = wait_for(f"page {hash_} to load", lambda: browser.find_element(By.ID, "main").get_attribute("data-loaded") in (hash_, "error")
                      and browser.find_element(By.ID, "main").get_attribute("data-loaded"))
    if loaded == "error":
        fail(f"page {hash_} failed: {text('#main')}")
    audit(hash_)


# Every form control has a label, and every text meets WCAG AA contrast (4.5:1, 3:1 when large)
# against the background it is drawn on.
AUDIT = """
const unlabelled = [...document.querySelectorAll('input, select, textarea')]
  .filter((e) => e.type !== 'hidden' && (!e.labels || e.labels.length === 0) && !e.getAttribute('aria-label'))
  .map((e) => e.id || e.outerHTML.slice(0, 60));
function rgb(text) { const m = text.match(/[\\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; }
function lum(c) { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); }
function background(e) {
  for (let n = e; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor); if (c.a > 0) return c; }
  return { r: 255, g: 255, b: 255, a: 1 };
}
const poor = [];
for (const e of document.querySelectorAll('body *')) {
  if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  if (!e.offsetParent && getComputedStyle(e).position !== 'fixed') continue;
  const style = getComputedStyle(e);
  const a = lum(rgb(style.color)), b = lum(background(e));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) poor.push(e.tagName + ' ' + ratio.toFixed(2) + ' ' + e.textContent.trim().slice(0, 30));
}
return [unlabelled, poor.slice(0, 5)];
"""


def audit(where):
    unlabelled, poor = browser.execute_script(AUDIT)
    if unlabelled:
        fail(f"{where}: form controls without a label: {unlabelled}")
    if poor:
        fail(f"{where}: text below WCAG AA contrast: {poor}")


def shot(name):
    browser.save_screenshot(os.path.join(shots, f"console-{name}.png"))


def fill(element_id, value):
    def action():
        field = browser.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)
    stale_safe(action)


def click(selector):
    stale_safe(lambda: browser.find_element(By.CSS_SELECTOR, selector).click())


try:
    stele = os.path.join(BIN, "stele")
    data = os.path.join(work, "node")
    for demo in ["bank", "cart", "inventory"]:
        subprocess.run([stele, "demo", demo, "--data-dir", data], check=True, capture_output=True)

    # The source of a mirror: 3,000 single-record batches, copied one batch per pass.
    source_kafka, source_http = serve("source", os.path.join(work, "source"))
    source = f"127.0.0.1:{source_kafka}"
    subprocess.run([stele, "topics", "create", "orders", "--partitions", "1", "--bootstrap", source], check=True, capture_output=True)
    subprocess.run(["kcat", "-P", "-b", source, "-t", "orders", "-K:", "-X", "linger.ms=0", "-X", "batch.num.messages=1"],
                   input="".join(f"o{i}:order-{i}\n" for i in range(3000)).encode(), check=True)

    kafka, http = serve("node", data, "--views", os.path.join(ROOT, "Examples", "views"), "--mirror-source", source,
                        "--mirror-topics", "orders", "--mirror-fetch-max-bytes", "1")
    bootstrap = f"127.0.0.1:{kafka}"

    # A topic with JSON records and headers, and a group that read a third of it.
    subprocess.run([stele, "topics", "create", "clicks", "--partitions", "1", "--bootstrap", bootstrap], check=True, capture_output=True)
    lines = "".join(json.dumps({"page": f"/p/{i}", "n": i}) + "\n" for i in range(29)) + "<img src=x id=injected onerror=alert(1)>\n"
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "clicks", "-H", "source=test"], input=lines.encode(), check=True)
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="billing", enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("clicks", 0)])
    got = []
    progress = Progress("the consumer to read 10 records")
    while len(got) < 10:
        for records in consumer.poll(timeout_ms=500, max_records=10 - len(got)).values():
            got.extend(records)
        progress.check(len(got))
    from kafka.structs import OffsetAndMetadata
    consumer.commit({TopicPartition("clicks", 0): OffsetAndMetadata(10, "", -1)})
    consumer.close()

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        # --- Overview: topics, the group, views, the mirror's lag live -------------------------
        page("#/")
        tables = lambda: text("#overview-tables")
        wait_for("the overview to list the demos' categories, the group and the views",
                 lambda: all(word in tables() for word in ["accounts", "carts", "inventory", "clicks", "billing", "balances", "stock"]))
        mirror_row = lambda: text("#overview-tables td.mirror")
        seen_lag = wait_for("the overview to show the mirror's lag",
                            lambda: "active from " + source in mirror_row() and "lag" in mirror_row() and mirror_row())
        print(f"console: overview shows the mirror: {seen_lag}")
        progress = Progress("the overview's mirror lag to reach 0 (live, no reload)")
        while "lag 0 records" not in mirror_row():
            progress.check(mirror_row())
            time.sleep(0.2)
        shot("overview")
        if "Appends/s" not in text("#overview-cards") or "Disk used" not in text("#overview-cards"):
            fail("the overview's cards are missing")

        # The keyboard alone: the skip link first, then the sections, Enter to open one.
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        page("#/")
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.text != "Skip to content":
            fail(f"the first Tab reaches {browser.switch_to.active_element.text!r}, not the skip link")
        ActionChains(browser).send_keys(Keys.TAB, Keys.TAB).perform()
        if browser.switch_to.active_element.text != "Topics":
            fail(f"Tab after the skip link and Overview reaches {browser.switch_to.active_element.text!r}, not Topics")
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        wait_for("the topics page opened with Enter", lambda: browser.find_element(By.ID, "main").get_attribute("data-loaded") == "#/topics")
        audit("#/topics")

        # --- Topics ------------------------------------------------------------------------
        page("#/topics")
        fill("new-topic", "made-in-browser")
        fill("new-partitions", "3")
        fill("new-configs", "retention.ms=86400000")
        click("form[aria-label='create a topic'] button")
        wait_for("the new topic's page", lambda: "Topic made-in-browser" in text("#main") and browser.find_element(By.ID, "main").get_attribute("data-loaded") == "#/topics/made-in-browser")
        if "retention.ms" not in text("#main") or "86400000" not in text("#main"):
            fail("the created topic's config is not shown")
        described = http_json(http, "/topics/made-in-browser")
        if len(described["partitions"]) != 3:
            fail(f"the topic made in the browser has {len(described['partitions'])} partitions")

        page("#/topics/clicks")
        wait_for("the browser to show the newest records", lambda: "/p/28" in text("#messages"))
        messages = text("#messages")
        if "source: test" not in messages or '"page": "/p/28"' not in messages:
            fail(f"headers or pretty JSON missing in the browser: {messages[:400]}")
        if browser.find_elements(By.ID, "injected"):
            fail("a record's value was put in the page as HTML")
        if "<img src=x id=injected" not in messages:
            fail("the hostile value is not shown as text")
        fill("browse-from", "5")
        browser.find_element(By.ID, "browse-mode").send_keys("from offset")
        click("form[aria-label='browse messages'] button")
        wait_for("records from offset 5", lambda: text("#messages").split("\n")[1].startswith("5 "))
        shot("topic")
        browser.find_element(By.ID, "browse-mode").send_keys("newest")
        click("form[aria-label='browse messages'] button")
        wait_for("the newest records again", lambda: "/p/28" in text("#messages"))
        click("#live-tail")
        subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "clicks"], input=b"tail-marker-1\n", check=True)
        wait_for("the live tail to receive a record produced during the test", lambda: "tail-marker-1" in text("#messages"))
        fill("produce-key", "k-browser")
        fill("produce-value", '{"from": "the console"}')
        fill("produce-headers", "origin=console")
        click("form[aria-label='produce a message'] button")
        wait_for("the produce confirmation", lambda: "Written to partition 0 at offset 31" in text("#produced"))
        wait_for("the produced record in the live tail", lambda: '"from": "the console"' in text("#messages"))
        records = http_json(http, "/topics/clicks/records?partition=0&offset=31")["records"]
        if records[0]["key"] != "k-browser" or records[0]["headers"] != [{"key": "origin", "value": "console"}]:
            fail(f"the record produced from the form reads back as {records[0]}")
        page("#/topics/made-in-browser")
        fill("delete-confirm", "wrong-name")
        click("form[aria-label='delete the topic'] button")
        wait_for("the refusal of a wrong name", lambda: "type the topic" in text("#deleted"))
        if "made-in-browser" not in [t["name"] for t in http_json(http, "/topics")["topics"]]:
            fail("a wrong name deleted the topic")
        fill("delete-confirm", "made-in-browser")
        click("form[aria-label='delete the topic'] button")
        wait_for("the topic list after deleting", lambda: browser.find_element(By.ID, "main").get_attribute("data-loaded") == "#/topics")
        if "made-in-browser" in [t["name"] for t in http_json(http, "/topics")["topics"]]:
            fail("the topic was not deleted")

        # --- Streams -----------------------------------------------------------------------
        first = http_json(http, "/streams/accounts/acct-console", {"type": "AccountOpened", "data": {"owner": "Grace", "initialDeposit": 10}},
                          headers={"Stele-Expected-Version": "no-stream"})
        opened = http_json(http, "/streams/accounts/acct-console")["events"][0]["time"]
        opened_ms = int(datetime.datetime.fromisoformat(opened.replace("Z", "+00:00")).timestamp() * 1000)
        while time.time() * 1000 <= opened_ms + 1:  # the next event in a later millisecond
            time.sleep(0.002)
        http_json(http, "/streams/accounts/acct-console", {"type": "MoneyDeposited", "schemaVersion": 2, "data": {"amount": 5}}, headers={"Stele-Expected-Version": "0"})
        page("#/streams")
        fill("stream-category", "accounts")
        fill("stream-id", "acct-console")
        click("form[aria-label='find a stream'] button")
        wait_for("the stream's events", lambda: "MoneyDeposited" in text("table[aria-label='events']"))
        versions = column("events")
        if versions != ["0", "1"]:
            fail(f"the stream page shows versions {versions}")
        fill("append-type", "MoneyWithdrawn")
        fill("append-data", '{"amount": 3}')
        fill("append-expected", "0")
        click("form[aria-label='append an event'] button")
        conflict = wait_for("the 409 for a stale expected version", lambda: "409" in text("#append-outcome") and text("#append-outcome"))
        if "expected version 0, actual version 1" not in conflict:
            fail(f"the conflict does not name expected and actual: {conflict}")
        shot("stream-conflict")
        fill("append-expected", "1")
        click("form[aria-label='append an event'] button")
        wait_for("the append with the right version", lambda: "Appended as version 2" in text("#append-outcome"))
        wait_for("the stream page to show version 2", lambda: "MoneyWithdrawn" in text("table[aria-label='events']"))
        fill("as-of", opened)
        click("form[aria-label='state as of a time'] button")
        wait_for("the stream as of its first event", lambda: "1 events" in text("#as-of-note"))
        versions = column("events")
        if versions != ["0"]:
            fail(f"as of {opened} the page shows versions {versions}")

        # --- Consumer groups -----------------------------------------------------------------
        page("#/groups/billing")
        wait_for("the group's lag (the consumer stopped after 10 of 32 records)", lambda: text("#group-lag") == "22")
        if text("#group-state") != "Empty":
            fail(f"the stopped group is {text('#group-state')}")
        shot("group")
        browser.find_element(By.ID, "reset-to").send_keys("earliest")
        click("form[aria-label='reset offsets'] button")
        wait_for("the reset to the earliest offsets", lambda: "lag now 32" in text("#reset-outcome") and text("#group-lag") == "32")
        browser.find_element(By.ID, "reset-to").send_keys("latest")
        click("form[aria-label='reset offsets'] button")
        wait_for("the reset to the latest offsets", lambda: "lag now 0" in text("#reset-outcome"))
        committed = http_json(http, "/groups/billing")["partitions"]
        if [p["committed"] for p in committed] != [32]:
            fail(f"the reset left the group at {committed}")
        # A group with a member is never moved under it.
        member = KafkaConsumer("clicks", bootstrap_servers=bootstrap, group_id="billing", enable_auto_commit=False)
        progress = Progress("the consumer to join billing")
        while not http_json(http, "/groups/billing")["members"]:
            member.poll(timeout_ms=200)
            progress.check(0)
        browser.find_element(By.ID, "reset-to").send_keys("earliest")
        click("form[aria-label='reset offsets'] button")
        wait_for("the refusal of a reset while a consumer is in the group", lambda: "has members" in text("#reset-outcome"))
        member.close()

        # --- Views ---------------------------------------------------------------------------
        page("#/views/balances")
        wait_for("the view to be running and caught up", lambda: text("#view-state") == "running" and text("#view-lag") == "0")
        fill("query-sql", "SELECT account, owner, balance FROM balances WHERE owner = :owner")
        fill("query-params", "owner=Grace")

        def balance():
            click("form[aria-label='query the view'] button")
            shown = wait_for("the query's result", lambda: "1 rows" in text("#query-results") and text("table[aria-label='query results'] tbody"))
            return shown.split() == ["acct-console", "12", "Grace"]
        wait_for("the query to show the balance 10 + 5 - 3", balance)
        http_json(http, "/streams/accounts/acct-console", {"type": "MoneyDeposited", "schemaVersion": 2, "data": {"amount": 100}})
        wait_for("the change feed to show an event appended during the test", lambda: "accounts/acct-console v3" in text("#changes"))
        click("#rebuild")
        wait_for("the rebuild's progress to reach 100 %", lambda: browser.find_element(By.ID, "rebuild-progress").get_attribute("value") == "100"
                 and "100 %" in text("#rebuild-text"))
        wait_for("the rebuilt view to be running", lambda: text("#view-state") == "running")
        shot("view")

        # --- Processors (Examples/views/hourly_deposits.sql) ----------------------------------
        page("#/")
        wait_for("the overview to list the processor", lambda: "hourly_deposits" in text("table[aria-label='processors']")
                 and text("#card-processors") == "1")
        page("#/processors")
        wait_for("the processors page to list the example", lambda: all(w in text("#main") for w in ["hourly_deposits", "running", "accounts → hourly-deposits"]))
        audit("#/processors")
        page("#/processors/hourly_deposits")
        wait_for("the processor to be running and caught up", lambda: text("#processor-state") == "running" and text("#processor-lag") == "0")
        # A deposit two hours ahead: the watermark passes the demo deposits' hour, whose results
        # the page shows live.
        ahead = int(time.time() * 1000) + 2 * 3600 * 1000
        http_json(http, "/streams/accounts/acct-console", {"type": "MoneyDeposited", "schemaVersion": 2, "data": {"amount": 7}, "occurredAt": str(ahead)})
        wait_for("the processor's results to arrive live", lambda: "acct-console" in text("#processor-outputs") and '"deposits"' in text("#processor-outputs"))
        wait_for("the windows written to be counted", lambda: text("#processor-windows") not in ("", "–", "0"))
        audit("#/processors/hourly_deposits")
        shot("processor")
        click("#processor-rebuild")
        wait_for("the rebuild's new generation", lambda: text("#processor-generation") == "2" and "generation 2" in text("#processor-message"))
        wait_for("the rebuilt processor to catch up", lambda: text("#processor-state") == "running" and text("#processor-lag") == "0")

        # --- Signed in, under ACLs: only what the principal may see -------------------------
        guarded = os.path.join(work, "guarded")
        for demo in ["bank", "cart", "inventory"]:
            subprocess.run([stele, "demo", demo, "--data-dir", guarded], check=True, capture_output=True)
        for principal, grant in [("User:carol", ["--topic", "accounts"]), ("User:carol", ["--view", "balances"]), ("User:carol", ["--group", "g2"]),
                                 ("User:ANONYMOUS", ["--topic", "accounts"]), ("User:ANONYMOUS", ["--topic", "carts"]), ("User:ANONYMOUS", ["--group", "g2"])]:
            subprocess.run([stele, "acls", "add", "--data-dir", guarded, "--principal", principal, "--operation", "READ", *grant],
                           check=True, capture_output=True)
        token = subprocess.run([stele, "tokens", "create", "--principal", "User:carol", "--data-dir", guarded], check=True,
                               capture_output=True, text=True).stdout.strip()
        guarded_kafka, guarded_http = serve("guarded", guarded, "--views", os.path.join(ROOT, "Examples", "views"), "--authorizer", "acl")
        # A group (committed by an anonymous consumer) at offset 1 of accounts (3 events) and of carts (3).
        committer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{guarded_kafka}", group_id="g2", enable_auto_commit=False)
        committer.commit({TopicPartition("accounts", 0): OffsetAndMetadata(1, "", -1), TopicPartition("carts", 0): OffsetAndMetadata(1, "", -1)})
        committer.close()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{guarded_http}/overview", timeout=60)
            fail("/overview answered without credentials")
        except urllib.error.HTTPError as error:
            if error.code != 401:
                fail(f"/overview without credentials is {error.code}, not 401")
        page_headers = urllib.request.urlopen(f"http://127.0.0.1:{guarded_http}/", timeout=60).headers
        if "frame-ancestors 'none'" not in page_headers.get("Content-Security-Policy", "") or page_headers.get("X-Frame-Options") != "DENY":
            fail(f"the console page may be framed or run other scripts: {dict(page_headers)}")
        http = guarded_http
        browser.get(f"http://127.0.0.1:{guarded_http}/#/")
        wait_for("the sign-in form", lambda: browser.find_elements(By.ID, "login"))
        shot("sign-in")
        fill("token", token)
        click("#login button")
        wait_for("the overview after signing in", lambda: browser.find_element(By.ID, "main").get_attribute("data-loaded") == "#/"
                 and "accounts" in text("#overview-tables"))
        shown = text("#overview-tables")
        if "carts" in shown or "inventory" in shown or "stock" in shown or "balances" not in shown:
            fail(f"carol sees more, or less, than she may: {shown}")
        if text("#card-appends") != "–":
            fail("the broker's totals are shown to a principal who may not describe the cluster")
        if text("#card-processors") != "0" or "hourly_deposits" in shown:
            fail("the processors are shown to a principal who may not describe the cluster")
        group_row = [row for row in text("table[aria-label='consumer groups'] tbody").split("\n") if row.startswith("g2")]
        if group_row != ["g2 Empty 0 2"]:
            fail(f"carol's overview shows g2 as {group_row}, not its lag on accounts alone (2)")
        reset = urllib.request.Request(f"http://127.0.0.1:{guarded_http}/groups/g2/offsets", data=b'{"to": "earliest"}', method="POST",
                                       headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            urllib.request.urlopen(reset, timeout=60)
            fail("carol moved g2's offsets on carts, which she may not read")
        except urllib.error.HTTPError as error:
            if error.code != 403:
                fail(f"moving offsets on a topic carol may not read is {error.code}, not 403")
        browser.get(f"http://127.0.0.1:{guarded_http}/#/topics/carts")
        wait_for("the refusal of a topic carol may not describe", lambda: browser.find_element(By.ID, "main").get_attribute("data-loaded") == "error")
        if "not authorized" not in text("#main"):
            fail(f"carol opened a topic she may not describe: {text('#main')[:300]}")
        page("#/views/balances")
        wait_for("carol's view page", lambda: text("#view-state") == "running")
        print("console: overview, topics (create, browse, tail, produce, delete), streams (versions, as of, 409, append), "
              f"group lag, view query, changes and rebuild, processor results and rebuild, sign-in under ACLs checked in Chromium; screenshots in {shots}")
    finally:
        browser.quit()
finally:
    for process in processes:
        process.kill()
        process.wait()
