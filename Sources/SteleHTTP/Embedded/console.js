// Stele's web console: one page, a hash route per view, built from the HTTP API's own routes.
// Every value from the server is put in the page as text (never as HTML): records and events
// hold whatever producers wrote. No library, no build step, nothing loaded from elsewhere.
'use strict';

const state = { token: sessionStorage.getItem('stele-token'), cleanups: [] };

// --- Small DOM helpers -----------------------------------------------------------------------

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, label) {
  return el('table', { 'aria-label': label },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', class: h.num ? 'num' : null }, h.title || h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: headers.length, class: 'muted' }, 'none'))));
}

function row(cells) {
  return el('tr', {}, cells.map((c) => (c instanceof Node && c.tagName === 'TD') ? c : el('td', {}, c)));
}

function num(value) { return el('td', { class: 'num' }, value === null || value === undefined ? '–' : String(value)); }

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

function rate(n) { return n >= 1000 ? (n / 1000).toFixed(1) + 'k' : n.toFixed(n < 10 ? 1 : 0); }

function link(href, text) { return el('a', { href }, text); }

function enc(text) { return encodeURIComponent(text); }

// A payload shown as it is: JSON indented, text as text, bytes as base64.
function payload(text, base64) {
  if (text === undefined && base64 !== undefined) return el('pre', { class: 'binary' }, 'base64: ' + base64);
  if (text === null || text === undefined) return el('span', { class: 'muted' }, 'null');
  if (typeof text !== 'string') return el('pre', {}, JSON.stringify(text, null, 2));
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') return el('pre', {}, JSON.stringify(parsed, null, 2));
  } catch (e) { /* not JSON: shown as text */ }
  return el('pre', {}, text);
}

// `name=value` items separated by `separator` as an object, or null if one has no name.
function pairs(text, separator) {
  const found = {};
  for (const item of text.split(separator).map((p) => p.trim()).filter(Boolean)) {
    const at = item.indexOf('=');
    if (at < 1) return null;
    found[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return found;
}

function time(ms) { return new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC'); }

// --- The API ---------------------------------------------------------------------------------

class Problem extends Error {
  constructor(status, body) {
    super((body && (body.title + (body.detail ? ': ' + body.detail : ''))) || ('HTTP ' + status));
    this.status = status;
    this.body = body || {};
  }
}

function headers(extra) {
  const h = Object.assign({}, extra);
  if (state.token) h.Authorization = 'Bearer ' + state.token;
  return h;
}

async function api(path, options) {
  const init = Object.assign({ headers: headers(options && options.body ? { 'Content-Type': 'application/json' } : {}) }, options || {});
  const response = await fetch(path, init);
  if (response.status === 401) { showLogin(); throw new Problem(401, { title: 'sign in needed' }); }
  const text = await response.text();
  let body = null;
  if (text) { try { body = JSON.parse(text); } catch (e) { body = { title: text }; } }
  if (!response.ok) throw new Problem(response.status, body);
  return body;
}

// Follows a Server-Sent Events route with fetch (EventSource cannot send a token); stops when
// the page changes. Reconnects after a pause if the connection ends.
function follow(path, onEvent) {
  const controller = new AbortController();
  state.cleanups.push(() => controller.abort());
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal: controller.signal });
        if (response.status === 401) { showLogin(); return; }
        if (!response.ok) {
          // Refused (403) stays refused; anything else (503: too many streams) is tried again.
          const main = document.getElementById('main');
          const text = await response.text();
          let body = null;
          try { body = JSON.parse(text); } catch (e) { body = { title: text }; }
          const box = errorBox(new Problem(response.status, body));
          box.id = 'stream-error';
          const shown = document.getElementById('stream-error');
          if (shown) shown.replaceWith(box); else if (main) main.append(box);
          if (response.status === 403) return;
          throw new Problem(response.status, body);
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let name = 'message';
            const data = [];
            for (const line of message.split('\n')) {
              if (line.startsWith('event: ')) name = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
            }
            if (data.length) { try { onEvent(name, JSON.parse(data.join('\n'))); } catch (e) { /* a malformed message is skipped */ } }
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  })();
}

// Runs `task` every `ms` while the page shows (a timer cleared on navigation).
function every(ms, task) {
  const timer = setInterval(task, ms);
  state.cleanups.push(() => clearInterval(timer));
}

function errorBox(error) {
  const box = el('div', { class: 'error', role: 'alert' }, error.message || String(error));
  const body = error.body || {};
  if (body.expected !== undefined || body.actual !== undefined) {
    box.append(el('div', { class: 'conflict' }, 'expected version ' + body.expected + ', actual version ' + body.actual));
  }
  return box;
}

// --- Sign-in (when the server asks for credentials) --------------------------------------------

function showLogin() {
  const main = document.getElementById('main');
  if (document.getElementById('login')) return;
  cleanup();
  const token = el('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  main.replaceChildren(el('h1', {}, 'Sign in'),
    el('p', {}, 'This server needs a token (', el('code', {}, 'stele tokens create'), ').'),
    el('form', { id: 'login', onsubmit: (event) => {
      event.preventDefault();
      state.token = token.value.trim();
      sessionStorage.setItem('stele-token', state.token);
      route();
    } }, el('label', { for: 'token' }, 'Token', token), el('button', { type: 'submit' }, 'Sign in')));
  token.focus();
}

// --- Pages -------------------------------------------------------------------------------------

async function overviewPage(main) {
  main.append(el('h1', {}, 'Overview'));
  const cards = el('div', { class: 'cards', id: 'overview-cards' });
  const chart = el('canvas', { id: 'rates', width: 900, height: 140, role: 'img', 'aria-label': 'records appended per second over the last five minutes' });
  const body = el('div', { id: 'overview-tables' });
  main.append(cards, el('h2', {}, 'Appends per second (last 5 minutes)'), chart, body);
  const history = [];
  let previous = null;
  const render = (summary) => {
    if (previous && summary.at > previous.at && summary.totals.appendedRecords !== undefined) {
      const seconds = (summary.at - previous.at) / 1000;
      history.push({ at: summary.at,
        appends: Math.max(0, summary.totals.appendedRecords - previous.totals.appendedRecords) / seconds,
        fetched: Math.max(0, summary.totals.fetchedBytes - previous.totals.fetchedBytes) / seconds });
      while (history.length && history[0].at < summary.at - 300000) history.shift();
    }
    previous = summary;
    const counted = summary.totals.appendedRecords !== undefined;
    const last = history[history.length - 1] || { appends: 0, fetched: 0 };
    const user = summary.topics.filter((t) => !t.internal);
    const card = (label, value, id) => el('div', { class: 'card' }, el('div', { class: 'label' }, label), el('div', { class: 'value', id }, value));
    cards.replaceChildren(
      card('Topics', String(user.length), 'card-topics'),
      card('Consumer groups', String(summary.groups.length), 'card-groups'),
      card('Views', String(summary.views.length), 'card-views'),
      card('Processors', String((summary.processors || []).length), 'card-processors'),
      card('Disk used', bytes(summary.totals.diskBytes), 'card-disk'),
      card('Appends/s', counted ? rate(last.appends) : '–', 'card-appends'),
      card('Fetch bytes/s', counted ? bytes(Math.round(last.fetched)) + '/s' : '–', 'card-fetch'));
    const from = history.length ? history[history.length - 1].at - 300000 : 0;
    drawLine(chart, history.map((h) => ({ x: (h.at - from) / 300000, y: h.appends })), '#0a5bb5', (top) => 'max ' + rate(top) + '/s');
    const topicRows = user.map((t) => row([link('#/topics/' + enc(t.name), t.name), num(t.partitions), num(t.records), num(bytes(t.bytes)),
      t.mirror ? el('td', { class: 'mirror' }, t.mirror.state + ' from ' + t.mirror.source,
        t.mirror.lagRecords !== null && t.mirror.lagRecords !== undefined
          ? el('span', { class: 'badge' + (t.mirror.lagRecords > 0 ? ' lagging' : '') }, ' lag ' + t.mirror.lagRecords + ' records, ' + Number(t.mirror.lagSeconds).toFixed(1) + ' s')
          : null) : el('td', {}, '')]));
    const groupRows = summary.groups.map((g) => row([link('#/groups/' + enc(g.name), g.name), g.state, num(g.members), num(g.lag)]));
    const viewRows = summary.views.map((v) => row([link('#/views/' + enc(v.name), v.name), v.state, num(v.lag.events), num(v.parked.length)]));
    const processorRows = (summary.processors || []).map(processorRow);
    const parts = [
      el('h2', {}, 'Topics'),
      table(['Topic', { title: 'Partitions', num: true }, { title: 'Records', num: true }, { title: 'Size', num: true }, 'Mirror'], topicRows, 'topics'),
      el('h2', {}, 'Consumer groups'),
      table(['Group', 'State', { title: 'Members', num: true }, { title: 'Lag (records)', num: true }], groupRows, 'consumer groups'),
      el('h2', {}, 'Views'),
      table(['View', 'State', { title: 'Lag (events)', num: true }, { title: 'Parked', num: true }], viewRows, 'views'),
      el('h2', {}, 'Processors'),
      table(processorHeaders, processorRows, 'processors'),
    ];
    if (summary.offline) parts.unshift(el('div', { class: 'error' }, 'Offline topics: ' + summary.offline.map((o) => o.name + ' (' + o.reason + ')').join(', ')));
    body.replaceChildren(...parts);
  };
  render(await api('/overview'));
  follow('/overview/subscribe', (name, data) => { if (name === 'overview') render(data); });
}

// A line chart of `points` ({ x: 0…1 across the chart, y: a value ≥ 0 }), scaled to the largest y.
function drawLine(canvas, points, color, label) {
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = '#d0d7de';
  g.strokeRect(0.5, 0.5, canvas.width - 1, canvas.height - 1);
  if (points.length < 2) return;
  const top = Math.max(1, ...points.map((p) => p.y));
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.beginPath();
  points.forEach((p, i) => {
    const x = p.x * (canvas.width - 10) + 5;
    const y = canvas.height - 5 - p.y / top * (canvas.height - 25);
    if (i) g.lineTo(x, y); else g.moveTo(x, y);
  });
  g.stroke();
  g.fillStyle = '#1b1f24';
  g.font = '12px sans-serif';
  g.fillText(label(top), 8, 14);
}

async function topicsPage(main) {
  main.append(el('h1', {}, 'Topics'));
  const message = el('div', { id: 'topic-message' });
  const name = el('input', { id: 'new-topic', required: true, pattern: '[a-zA-Z0-9._-]+', maxlength: 249 });
  const partitions = el('input', { id: 'new-partitions', type: 'number', min: 1, value: 1 });
  const configs = el('textarea', { id: 'new-configs', placeholder: 'cleanup.policy=compact' });
  main.append(el('form', { 'aria-label': 'create a topic', onsubmit: async (event) => {
    event.preventDefault();
    const entries = pairs(configs.value, '\n');
    if (!entries) { message.replaceChildren(errorBox(new Error('configs are key=value lines'))); return; }
    try {
      await api('/topics', { method: 'POST', body: JSON.stringify({ name: name.value, partitions: Number(partitions.value), configs: entries }) });
      location.hash = '#/topics/' + enc(name.value);
    } catch (error) { message.replaceChildren(errorBox(error)); }
  } }, el('label', { for: 'new-topic' }, 'Name', name), el('label', { for: 'new-partitions' }, 'Partitions', partitions),
  el('label', { for: 'new-configs' }, 'Configs (key=value per line)', configs), el('button', { type: 'submit' }, 'Create topic')), message);
  // The overview lists what the signed-in principal may describe (the topic list route needs the cluster).
  const listed = await api('/overview');
  const rows = listed.topics.filter((t) => !t.internal).map((t) =>
    row([link('#/topics/' + enc(t.name), t.name), num(t.partitions), num(t.records), num(bytes(t.bytes)), t.mirror ? t.mirror.state : '']));
  main.append(table(['Topic', { title: 'Partitions', num: true }, { title: 'Records', num: true }, { title: 'Size', num: true }, 'Mirror'], rows, 'topics'));
}

async function topicPage(main, topicName) {
  const topic = await api('/topics/' + enc(topicName));
  main.append(el('h1', {}, 'Topic ' + topic.name));
  if (topic.mirror) {
    main.append(el('p', { id: 'mirror-state' }, 'Mirror of ' + topic.mirror.source + ', ' + topic.mirror.state +
      (topic.mirror.lagRecords !== null && topic.mirror.lagRecords !== undefined ? ': ' + topic.mirror.lagRecords + ' records, ' + Number(topic.mirror.lagSeconds).toFixed(1) + ' s behind' : '')));
  }
  main.append(el('h2', {}, 'Partitions'), table(['Partition', { title: 'Start offset', num: true }, { title: 'End offset', num: true }, { title: 'Size', num: true }],
    topic.partitions.map((p) => row([String(p.partition), num(p.logStartOffset), num(p.logEndOffset), num(bytes(p.bytes))])), 'partitions'));
  main.append(el('h2', {}, 'Configs'), table(['Config', 'Value'], Object.entries(topic.configs).sort().map(([k, v]) => row([k, v])), 'configs'));

  // The message browser.
  main.append(el('h2', {}, 'Messages'));
  const partition = el('select', { id: 'browse-partition' }, topic.partitions.map((p) => el('option', { value: p.partition }, String(p.partition))));
  const mode = el('select', { id: 'browse-mode' }, el('option', { value: 'newest' }, 'newest'), el('option', { value: 'offset' }, 'from offset'),
    el('option', { value: 'timestamp' }, 'from time'), el('option', { value: 'key' }, 'by key'));
  const from = el('input', { id: 'browse-from', placeholder: 'offset, ISO time or key' });
  const tail = el('input', { id: 'live-tail', type: 'checkbox' });
  const results = el('div', { id: 'messages' });
  let next = null;
  const show = (records, append) => {
    const rows = records.map((r) => row([num(r.offset), r.version !== undefined ? num(r.version) : el('td', {}, ''), time(r.timestamp),
      payload(r.key, r.keyBase64), payload(r.value, r.valueBase64),
      el('td', {}, r.headers.map((h) => el('div', {}, h.key + ': ', h.value !== undefined ? (h.value === null ? 'null' : h.value) : 'base64 ' + h.valueBase64)))]));
    let body = results.querySelector('tbody');
    if (!append || !body) {
      results.replaceChildren(table([{ title: 'Offset', num: true }, { title: 'Version', num: true }, 'Time', 'Key', 'Value', 'Headers'], rows, 'messages'));
    } else {
      if (body.querySelector('td.muted')) body.replaceChildren();
      body.append(...rows);
    }
  };
  const browse = async () => {
    let query = '?partition=' + partition.value + '&limit=50';
    if (mode.value === 'offset') query += '&offset=' + enc(from.value);
    if (mode.value === 'timestamp') {
      const ms = /^\d+$/.test(from.value) ? Number(from.value) : Date.parse(from.value);
      if (Number.isNaN(ms)) { results.replaceChildren(errorBox(new Error('a time is an ISO 8601 time or epoch milliseconds'))); return; }
      query += '&timestamp=' + ms;
    }
    if (mode.value === 'key') query += '&key=' + enc(from.value);
    try {
      const page = await api('/topics/' + enc(topic.name) + '/records' + query);
      next = page.next === undefined ? null : page.next;
      show(page.records, false);
    } catch (error) { results.replaceChildren(errorBox(error)); }
  };
  main.append(el('form', { 'aria-label': 'browse messages', onsubmit: (event) => { event.preventDefault(); browse(); } },
    el('label', { for: 'browse-partition' }, 'Partition', partition), el('label', { for: 'browse-mode' }, 'Show', mode),
    el('label', { for: 'browse-from' }, 'From', from), el('button', { type: 'submit' }, 'Show messages'),
    el('label', { for: 'live-tail' }, 'Live tail', tail)), results);
  every(1000, async () => {
    if (!tail.checked || next === null || mode.value === 'key') return;
    try {
      const page = await api('/topics/' + enc(topic.name) + '/records?partition=' + partition.value + '&offset=' + next + '&limit=100');
      if (page.records.length) show(page.records, true);
      next = page.next;
    } catch (error) { /* shown on the next browse */ }
  });
  await browse();

  // Produce one message.
  main.append(el('h2', {}, 'Produce a message'));
  const key = el('input', { id: 'produce-key' });
  const value = el('textarea', { id: 'produce-value' });
  const header = el('input', { id: 'produce-headers', placeholder: 'name=value, name=value' });
  const produced = el('div', { id: 'produced' });
  main.append(el('form', { 'aria-label': 'produce a message', onsubmit: async (event) => {
    event.preventDefault();
    const headersGiven = pairs(header.value, ',');
    if (!headersGiven) { produced.replaceChildren(errorBox(new Error('headers are name=value pairs'))); return; }
    const message = { value: value.value, headers: headersGiven };
    if (key.value) message.key = key.value;
    try {
      const result = await api('/topics/' + enc(topic.name) + '/records', { method: 'POST', body: JSON.stringify(message) });
      produced.replaceChildren(el('div', { class: 'ok', role: 'status' }, 'Written to partition ' + result.partition + ' at offset ' + result.offset));
    } catch (error) { produced.replaceChildren(errorBox(error)); }
  } }, el('label', { for: 'produce-key' }, 'Key', key), el('label', { for: 'produce-value' }, 'Value', value),
  el('label', { for: 'produce-headers' }, 'Headers', header), el('button', { type: 'submit' }, 'Produce')), produced);

  // Delete, after typing the name.
  main.append(el('h2', {}, 'Delete'));
  const confirm = el('input', { id: 'delete-confirm', autocomplete: 'off' });
  const deleted = el('div', { id: 'deleted' });
  main.append(el('form', { 'aria-label': 'delete the topic', onsubmit: async (event) => {
    event.preventDefault();
    if (confirm.value !== topic.name) { deleted.replaceChildren(errorBox(new Error('type the topic\'s name to delete it'))); return; }
    try {
      await api('/topics/' + enc(topic.name), { method: 'DELETE' });
      location.hash = '#/topics';
    } catch (error) { deleted.replaceChildren(errorBox(error)); }
  } }, el('label', { for: 'delete-confirm' }, 'Type ' + topic.name + ' to delete it and all its records', confirm),
  el('button', { type: 'submit', class: 'danger' }, 'Delete topic')), deleted);
}

function streamsPage(main) {
  main.append(el('h1', {}, 'Streams'));
  const category = el('input', { id: 'stream-category', required: true });
  const id = el('input', { id: 'stream-id', required: true });
  main.append(el('form', { 'aria-label': 'find a stream', onsubmit: (event) => {
    event.preventDefault();
    location.hash = '#/streams/' + enc(category.value) + '/' + enc(id.value);
  } }, el('label', { for: 'stream-category' }, 'Category', category), el('label', { for: 'stream-id' }, 'Stream id', id),
  el('button', { type: 'submit' }, 'Open stream')));
  category.focus();
}

async function streamPage(main, category, id, asOf) {
  const path = '/streams/' + enc(category) + '/' + enc(id);
  main.append(el('h1', {}, 'Stream ' + category + '/' + id));
  const when = el('input', { id: 'as-of', value: asOf || '', placeholder: '2026-11-23T10:15:00Z', size: 26 });
  main.append(el('form', { 'aria-label': 'state as of a time', onsubmit: (event) => {
    event.preventDefault();
    location.hash = '#/streams/' + enc(category) + '/' + enc(id) + (when.value ? '?asOf=' + enc(when.value) : '');
  } }, el('label', { for: 'as-of' }, 'As of (ISO 8601 time or epoch ms)', when), el('button', { type: 'submit' }, 'Show state then'),
  el('button', { type: 'button', class: 'secondary', onclick: () => { location.hash = '#/streams/' + enc(category) + '/' + enc(id); } }, 'Now')));
  const events = [];
  if (asOf) {
    const page = await api(path + '?asOf=' + enc(asOf));
    events.push(...page.events);
    main.append(el('p', { class: 'muted', id: 'as-of-note' }, 'The stream as it was at ' + asOf + ': ' + page.events.length + ' events.'));
  } else {
    let from = 0;
    for (;;) {
      const page = await api(path + '?from=' + from + '&limit=1000');
      events.push(...page.events);
      if (!page.events.length || page.next === undefined || page.next === null || events.length >= 10000) break;
      from = page.next;
    }
  }
  const rows = events.map((e) => row([num(e.steleversion), e.type, e.time, el('td', { class: 'links' },
    e.stelecorrelationid ? el('div', {}, 'correlation ' + e.stelecorrelationid) : null,
    e.stelecausationid ? el('div', {}, 'causation ' + e.stelecausationid) : null, el('div', { class: 'muted' }, 'id ' + e.id)),
  e.data !== undefined ? payload(e.data) : payload(undefined, e.data_base64)]));
  main.append(el('h2', {}, 'Events'), table([{ title: 'Version', num: true }, 'Type', 'Appended', 'Links', 'Data'], rows, 'events'));

  main.append(el('h2', {}, 'Append an event'));
  const type = el('input', { id: 'append-type', required: true });
  const data = el('textarea', { id: 'append-data' }, '{}');
  const schema = el('input', { id: 'append-schema', type: 'number', min: 1, value: 1 });
  const expected = el('input', { id: 'append-expected', value: events.length ? String(events[events.length - 1].steleversion) : 'no-stream' });
  const outcome = el('div', { id: 'append-outcome' });
  main.append(el('form', { 'aria-label': 'append an event', onsubmit: async (event) => {
    event.preventDefault();
    let body;
    try { body = JSON.parse(data.value); } catch (e) { outcome.replaceChildren(errorBox(new Error('data is not JSON: ' + e.message))); return; }
    try {
      const result = await api(path, { method: 'POST', body: JSON.stringify({ type: type.value, schemaVersion: Number(schema.value), data: body }),
        headers: headers({ 'Content-Type': 'application/json', 'Stele-Expected-Version': expected.value }) });
      // The page again with the new event, then the outcome on it.
      await route();
      const shown = document.getElementById('append-outcome');
      if (shown) shown.replaceChildren(el('div', { class: 'ok', role: 'status' }, 'Appended as version ' + result.firstVersion));
    } catch (error) {
      outcome.replaceChildren(error.status === 409 ? errorBox(Object.assign(new Error('Conflict (409): ' + error.message), { body: error.body })) : errorBox(error));
    }
  } }, el('label', { for: 'append-type' }, 'Event type', type), el('label', { for: 'append-data' }, 'Data (JSON)', data), el('label', { for: 'append-schema' }, 'Schema version', schema),
  el('label', { for: 'append-expected' }, 'Expected version', expected), el('button', { type: 'submit' }, 'Append')), outcome);
}

async function groupsPage(main) {
  main.append(el('h1', {}, 'Consumer groups'));
  const listed = await api('/overview');
  main.append(table(['Group', 'State', { title: 'Members', num: true }, { title: 'Lag (records)', num: true }],
    listed.groups.map((g) => row([link('#/groups/' + enc(g.name), g.name), g.state, num(g.members), num(g.lag)])), 'consumer groups'));
}

async function groupPage(main, name) {
  main.append(el('h1', {}, 'Consumer group ' + name));
  const body = el('div', { id: 'group' });
  const chart = el('canvas', { id: 'lag-chart', width: 900, height: 140, role: 'img', 'aria-label': 'the group\'s lag over time' });
  main.append(body, el('h2', {}, 'Lag over time'), chart);
  const history = [];
  const render = (group) => {
    history.push(group.lag);
    while (history.length > 300) history.shift();
    body.replaceChildren(el('p', {}, 'State ', el('strong', { id: 'group-state' }, group.state), ', total lag ', el('strong', { id: 'group-lag' }, String(group.lag)), ' records'),
      el('h2', {}, 'Members'), table(['Member', 'Client'], group.members.map((m) => row([m.memberId, m.clientId])), 'members'),
      el('h2', {}, 'Committed offsets'),
      table(['Topic', { title: 'Partition', num: true }, { title: 'Committed', num: true }, { title: 'End offset', num: true }, { title: 'Lag', num: true }],
        group.partitions.map((p) => row([p.topic, num(p.partition), num(p.committed), num(p.logEndOffset), num(p.lag)])), 'committed offsets'));
    drawLine(chart, history.map((lag, i) => ({ x: history.length > 1 ? i / (history.length - 1) : 0, y: lag })), '#a40e26',
      (top) => 'max ' + top + ' records');
  };
  render(await api('/groups/' + enc(name)));
  every(2000, async () => { try { render(await api('/groups/' + enc(name))); } catch (e) { /* kept until the next poll */ } });

  main.append(el('h2', {}, 'Reset offsets'), el('p', { class: 'muted' }, 'Only while the group has no members.'));
  const to = el('select', { id: 'reset-to' }, el('option', { value: 'earliest' }, 'earliest'), el('option', { value: 'latest' }, 'latest'),
    el('option', { value: 'timestamp' }, 'a time'));
  const when = el('input', { id: 'reset-time', placeholder: 'ISO 8601 time or epoch ms' });
  const outcome = el('div', { id: 'reset-outcome' });
  main.append(el('form', { 'aria-label': 'reset offsets', onsubmit: async (event) => {
    event.preventDefault();
    const request = { to: to.value };
    if (to.value === 'timestamp') {
      const ms = /^\d+$/.test(when.value) ? Number(when.value) : Date.parse(when.value);
      if (Number.isNaN(ms)) { outcome.replaceChildren(errorBox(new Error('a time is an ISO 8601 time or epoch milliseconds'))); return; }
      request.timestamp = ms;
    }
    try {
      const group = await api('/groups/' + enc(name) + '/offsets', { method: 'POST', body: JSON.stringify(request) });
      render(group);
      outcome.replaceChildren(el('div', { class: 'ok', role: 'status' }, 'Offsets moved to ' + to.value + ': lag now ' + group.lag));
    } catch (error) { outcome.replaceChildren(errorBox(error)); }
  } }, el('label', { for: 'reset-to' }, 'To', to), el('label', { for: 'reset-time' }, 'Time', when),
  el('button', { type: 'submit' }, 'Reset offsets')), outcome);
}

async function viewsPage(main) {
  main.append(el('h1', {}, 'Views'));
  const listed = await api('/overview');
  main.append(table(['View', 'Categories', 'State', { title: 'Lag (events)', num: true }, { title: 'Parked', num: true }],
    listed.views.map((v) => row([link('#/views/' + enc(v.name), v.name), v.categories.join(', '), v.state, num(v.lag.events), num(v.parked.length)])), 'views'));
  // Refused definition files are listed to who may describe the cluster.
  let refused = { refused: [] };
  try { refused = await api('/views'); } catch (error) { if (error.status !== 403) throw error; }
  if (refused.refused.length) {
    main.append(el('h2', {}, 'Refused definitions'), table(['File', { title: 'Line', num: true }, 'Reason'],
      refused.refused.map((r) => row([r.file, num(r.line), r.reason])), 'refused definitions'));
  }
}

async function viewPage(main, name) {
  const path = '/views/' + enc(name);
  main.append(el('h1', {}, 'View ' + name));
  const status = el('div', { id: 'view-status' });
  const progress = el('progress', { id: 'rebuild-progress', max: 100, value: 0, 'aria-label': 'rebuild progress' });
  const progressText = el('span', { id: 'rebuild-text' });
  const actions = el('div', { id: 'view-actions' });
  main.append(status, el('p', {}, progress, ' ', progressText), actions);
  let rebuilding = false;
  const render = (view) => {
    status.replaceChildren(el('p', {}, 'State ', el('strong', { id: 'view-state' }, view.state), view.reason ? ' (' + view.reason + ')' : '',
      ', lag ', el('strong', { id: 'view-lag' }, String(view.lag.events)), ' events (' + Number(view.lag.seconds).toFixed(1) + ' s), categories ' + view.categories.join(', ')),
    view.parked.length ? table(['Stream', { title: 'Version', num: true }, 'Type', 'Error', 'Parked at'],
      view.parked.map((p) => row([p.stream, num(p.version), p.type, p.error, p.parkedAt])), 'parked events') : '');
    if (view.rebuild) {
      const percent = view.rebuild.total > 0 ? Math.floor(view.rebuild.applied * 100 / view.rebuild.total) : 0;
      progress.value = view.rebuild.phase === 'swapping' ? 100 : percent;
      progressText.textContent = 'Rebuild ' + view.rebuild.phase + ': ' + view.rebuild.applied + ' of ' + view.rebuild.total + ' events';
      rebuilding = true;
    } else if (rebuilding) {
      progress.value = 100;
      progressText.textContent = 'Rebuild done: 100 %';
      rebuilding = false;
    }
  };
  const message = el('div', { id: 'view-message' });
  actions.append(el('button', { type: 'button', id: 'rebuild', onclick: async () => {
    try { await api(path + '/rebuild', { method: 'POST' }); rebuilding = true; progress.value = 0; progressText.textContent = 'Rebuild started'; }
    catch (error) { message.replaceChildren(errorBox(error)); }
  } }, 'Rebuild'), ' ', el('button', { type: 'button', class: 'secondary', id: 'retry', onclick: async () => {
    try { const outcome = await api(path + '/retry', { method: 'POST' }); message.replaceChildren(el('div', { class: 'ok' }, outcome.applied + ' applied, ' + outcome.stillParked + ' still parked')); }
    catch (error) { message.replaceChildren(errorBox(error)); }
  } }, 'Retry parked events'), message);
  render(await api(path));
  every(500, async () => { try { render(await api(path)); } catch (e) { /* kept until the next poll */ } });

  main.append(el('h2', {}, 'Query'));
  const sql = el('textarea', { id: 'query-sql', 'aria-describedby': 'query-help' }, 'SELECT * FROM ' + name + ' LIMIT 50');
  const params = el('input', { id: 'query-params', placeholder: 'name=value, name=value' });
  const results = el('div', { id: 'query-results' });
  main.append(el('form', { 'aria-label': 'query the view', onsubmit: async (event) => {
    event.preventDefault();
    const given = pairs(params.value, ',');
    if (!given) { results.replaceChildren(errorBox(new Error('parameters are name=value pairs'))); return; }
    // A number binds as a number, anything else as text.
    const bound = Object.fromEntries(Object.entries(given).map(([k, v]) => [k, /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v]));
    try {
      const answer = await api(path + '/query', { method: 'POST', body: JSON.stringify({ sql: sql.value, params: bound }) });
      const columns = answer.rows.length ? Object.keys(answer.rows[0]) : [];
      results.replaceChildren(el('p', { class: 'muted', id: 'query-count' }, answer.rows.length + ' rows'),
        table(columns, answer.rows.map((r) => row(columns.map((c) => r[c] === null ? 'NULL' : String(r[c])))), 'query results'));
    } catch (error) { results.replaceChildren(errorBox(error)); }
  } }, el('label', { for: 'query-sql' }, 'SQL (read-only)', sql), el('label', { for: 'query-params' }, 'Parameters (:name)', params),
  el('button', { type: 'submit' }, 'Run query')), el('p', { id: 'query-help', class: 'muted' }, 'Read-only SQL over the view\'s tables, with a time limit.'), results);

  main.append(el('h2', {}, 'Changes (live)'));
  const changes = el('ol', { id: 'changes', reversed: true });
  main.append(changes);
  follow(path + '/changes', (event, data) => {
    if (event !== 'change') return;
    for (const change of data.events) changes.prepend(el('li', {}, change.stream + ' v' + change.version + ' ' + (change.type || '')));
    while (changes.children.length > 100) changes.lastChild.remove();
  });
}

// --- Processors ------------------------------------------------------------------------------

const processorHeaders = ['Processor', 'State', 'Source → output', { title: 'Lag (events)', num: true },
  { title: 'Windows written', num: true }, { title: 'Dead letters', num: true }];

function processorRow(p) {
  return row([link('#/processors/' + enc(p.name), p.name), p.state, p.source + ' → ' + p.output, num(p.lag), num(p.windowsWritten), num(p.deadLettered)]);
}

async function processorsPage(main) {
  main.append(el('h1', {}, 'Processors'));
  const listed = await api('/processors');
  main.append(table(processorHeaders, listed.processors.map(processorRow), 'processors'));
  if (listed.refused.length) {
    main.append(el('h2', {}, 'Refused definitions'), table(['File', { title: 'Line', num: true }, 'Reason'],
      listed.refused.map((r) => row([r.file, num(r.line), r.reason])), 'refused processor definitions'));
  }
}

async function processorPage(main, name) {
  const path = '/processors/' + enc(name);
  main.append(el('h1', {}, 'Processor ' + name));
  const status = el('div', { id: 'processor-status' });
  const message = el('div', { id: 'processor-message' });
  const render = (p) => {
    const field = (label, value, id) => el('div', {}, el('dt', {}, label), el('dd', id ? { id } : {}, value === undefined || value === null ? '–' : String(value)));
    status.replaceChildren(el('dl', { class: 'facts' },
      field('State', p.state, 'processor-state'), field('Generation', p.generation, 'processor-generation'),
      field('Window', p.window), field('Source', p.source), field('Output', p.output + ' (' + p.eventType + ')'),
      field('Dead letters', p.deadLetters + ': ' + (p.deadLettered || 0)), field('Results', p.results.join(', ')),
      field('Lag (events)', p.lag, 'processor-lag'), field('Events read', p.eventsRead, 'processor-read'),
      field('Windows written', p.windowsWritten, 'processor-windows'), field('Open windows', p.openWindows),
      field('Watermark', p.watermark), field('Checkpoint', p.checkpoint), field('Definition', p.file + ' (' + p.fingerprint + ')'),
      p.rebuiltBecause ? field('Last rebuilt', 'because ' + p.rebuiltBecause) : '',
      p.lastError ? field('Last error', p.lastError, 'processor-error') : ''));
  };
  main.append(status, el('p', {}, el('button', { type: 'button', id: 'processor-rebuild', onclick: async () => {
    try { const p = await api(path + '/rebuild', { method: 'POST' }); render(p); message.replaceChildren(el('div', { class: 'ok' }, 'Rebuilding: generation ' + p.generation + ' writes every result again')); }
    catch (error) { message.replaceChildren(errorBox(error)); }
  } }, 'Rebuild'), message));
  const first = await api(path);
  render(first);
  every(1000, async () => { try { render(await api(path)); } catch (e) { /* kept until the next poll */ } });

  main.append(el('h2', {}, 'Results (live)'));
  const outputs = el('ol', { id: 'processor-outputs', reversed: true });
  main.append(outputs);
  follow('/categories/' + enc(first.output) + '/subscribe', (event, data) => {
    if (event === 'error' || !data || !data.data) return;
    outputs.prepend(el('li', {}, data.subject + ': ' + JSON.stringify(data.data)));
    while (outputs.children.length > 100) outputs.lastChild.remove();
  });
}

// --- Routing -----------------------------------------------------------------------------------

function cleanup() {
  for (const stop of state.cleanups.splice(0)) stop();
}

async function route() {
  const started = performance.now();
  cleanup();
  showSignedIn();
  const main = document.getElementById('main');
  main.replaceChildren();
  delete main.dataset.loaded;
  delete main.dataset.ms;
  const [pathPart, queryPart] = location.hash.replace(/^#/, '').split('?');
  let parts;
  try { parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent); } catch (e) { parts = ['not-found']; }
  const query = new URLSearchParams(queryPart || '');
  const section = parts[0] || 'overview';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = 'Stele – ' + (parts.length ? parts.join(' / ') : 'overview');
  try {
    if (section === 'overview') await overviewPage(main);
    else if (section === 'topics' && parts.length === 1) await topicsPage(main);
    else if (section === 'topics') await topicPage(main, parts[1]);
    else if (section === 'streams' && parts.length >= 3) await streamPage(main, parts[1], parts.slice(2).join('/'), query.get('asOf'));
    else if (section === 'streams') streamsPage(main);
    else if (section === 'groups' && parts.length === 1) await groupsPage(main);
    else if (section === 'groups') await groupPage(main, parts[1]);
    else if (section === 'views' && parts.length === 1) await viewsPage(main);
    else if (section === 'views') await viewPage(main, parts[1]);
    else if (section === 'processors' && parts.length === 1) await processorsPage(main);
    else if (section === 'processors') await processorPage(main, parts[1]);
    else main.append(el('h1', {}, 'Not found'), el('p', {}, link('#/', 'Back to the overview')));
    // How long the page took to fetch and draw (scripts/bench-console reads it).
    main.dataset.ms = (performance.now() - started).toFixed(1);
    main.dataset.loaded = location.hash || '#/';
  } catch (error) {
    if (error.status !== 401) main.append(errorBox(error));
    main.dataset.loaded = 'error';
  }
}

function showSignedIn() {
  const where = document.getElementById('principal');
  where.replaceChildren();
  if (!state.token) return;
  where.append('signed in with a token ', el('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: () => {
    sessionStorage.removeItem('stele-token');
    state.token = null;
    route();
  } }, 'Sign out'));
}

window.addEventListener('hashchange', route);
// Streams and timers end with the page: an open stream the browser kept would hold one of its
// six connections to this server, and a few left open stall the next page.
window.addEventListener('pagehide', cleanup);
document.addEventListener('DOMContentLoaded', route);
