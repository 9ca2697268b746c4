// The web page served at GET / (with /app.js and /app.css). Kept in a TS module so `tsc` alone puts it
// in dist/. No inline script or style and no external URL: the page works offline and under a CSP of
// 'self' only. Everything the client controls (file names, labels, server messages) is shown with
// textContent, never as HTML.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stnet: video action classifier</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>StNet Kinetics-400 action classifier</h1>
  <p class="lead">Pick or drop a video: this server classifies it among the 400 Kinetics actions. The video goes only to this server.</p>
</header>
<main>
  <section aria-labelledby="pick-h" class="card">
    <h2 id="pick-h">Video</h2>
    <div id="drop" class="drop">
      <p>Drag a video file here, or choose one:</p>
      <label for="file">Video file</label>
      <input id="file" type="file" accept="video/*,.mp4,.m4v,.mov,.avi,.mkv,.webm,.mpg,.mpeg,.flv,.wmv,.3gp,.ts">
      <p class="hint" id="limit-hint"></p>
    </div>
    <video id="preview" controls muted playsinline hidden></video>
    <p id="preview-note" class="hint" hidden></p>
    <div id="token-row" class="row" hidden>
      <label for="token">Access token</label>
      <input id="token" type="password" autocomplete="off" spellcheck="false" aria-describedby="token-hint">
      <span id="token-hint" class="hint">This server was started with --token.</span>
    </div>
    <div class="row">
      <button id="go" type="button" disabled>Classify</button>
      <button id="cancel" type="button" hidden>Cancel</button>
    </div>
    <p id="status" role="status" aria-live="polite"></p>
    <p id="error" class="error" role="alert" hidden></p>
  </section>
  <section aria-labelledby="result-h" class="card">
    <h2 id="result-h">Top-5 actions</h2>
    <p id="result-name" class="hint">No result yet.</p>
    <ol id="bars" class="bars" aria-describedby="result-name"></ol>
    <h3>Time per stage</h3>
    <dl id="timing" class="timing"></dl>
  </section>
  <section aria-labelledby="hist-h" class="card">
    <h2 id="hist-h">Earlier results in this page session</h2>
    <p class="hint" id="history-empty">None yet. Each classified video is listed here; choose one to show its chart again.</p>
    <ol id="history" class="history"></ol>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `:root { color-scheme: light dark; --accent: #1f6feb; --bar: #2da44e; --err: #cf222e; --muted: #57606a; --bg-card: rgba(127,127,127,.08); }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.2rem; margin-top: 0; }
h3 { font-size: 1rem; margin-bottom: .25rem; }
.lead, .hint { color: var(--muted); }
.hint { font-size: .9rem; }
.card { background: var(--bg-card); border-radius: .5rem; padding: 1rem; margin: 1rem 0; }
.drop { border: 2px dashed var(--muted); border-radius: .5rem; padding: 1rem; }
.drop.over { border-color: var(--accent); background: rgba(31,111,235,.08); }
.drop label { font-weight: 600; margin-right: .5rem; }
.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .75rem 0; }
video { display: block; max-width: 100%; max-height: 22rem; margin-top: .75rem; border-radius: .25rem; background: #000; }
button { font: inherit; padding: .4rem 1rem; border-radius: .35rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button[disabled] { opacity: .5; cursor: not-allowed; }
button.secondary, #cancel { background: transparent; color: inherit; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
input[type=password] { font: inherit; padding: .3rem; }
.error { color: var(--err); font-weight: 600; }
.bars { list-style: none; padding: 0; margin: 0; }
.bar-row { display: grid; grid-template-columns: minmax(8rem, 16rem) 1fr 4.5rem; gap: .5rem; align-items: center; margin: .35rem 0; }
.bar-label { overflow-wrap: anywhere; }
.bar-track { background: rgba(127,127,127,.2); border-radius: .25rem; height: 1.2rem; overflow: hidden; }
.bar { display: block; height: 100%; background: var(--bar); min-width: 2px; }
.bar-prob { text-align: right; font-variant-numeric: tabular-nums; }
.timing { display: grid; grid-template-columns: max-content max-content; gap: .1rem 1rem; margin: 0; }
.timing dt { color: var(--muted); }
.timing dd { margin: 0; font-variant-numeric: tabular-nums; text-align: right; }
.history { padding-left: 1.25rem; }
.history li { margin: .25rem 0; }
.history button { background: transparent; color: inherit; border-color: var(--muted); padding: .2rem .6rem; text-align: left; }
`;

export const PAGE_JS = `'use strict';
(function () {
  var VIDEO_EXT = /\\.(mp4|m4v|mov|avi|mkv|webm|mpe?g|flv|wmv|3gp|ts|ogv)$/i;
  var $ = function (id) { return document.getElementById(id); };
  var fileInput = $('file'), drop = $('drop'), preview = $('preview'), previewNote = $('preview-note');
  var goBtn = $('go'), cancelBtn = $('cancel'), statusEl = $('status'), errorEl = $('error');
  var tokenRow = $('token-row'), tokenInput = $('token'), bars = $('bars'), timing = $('timing');
  var resultName = $('result-name'), historyList = $('history'), historyEmpty = $('history-empty'), limitHint = $('limit-hint');
  var current = null, objectUrl = null, inflight = null, maxUpload = 0, runs = 0;

  function setStatus(text) { statusEl.textContent = text; }
  function showError(text) { errorEl.textContent = text; errorEl.hidden = !text; }
  function human(label) { return String(label).replace(/_/g, ' '); }
  function mib(n) { return (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + ' MiB'; }

  fetch('/healthz', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (h) {
    if (h && h.auth) tokenRow.hidden = false;
    if (h && h.maxUploadBytes) { maxUpload = h.maxUploadBytes; limitHint.textContent = 'Up to ' + mib(maxUpload) + ' per video.'; }
  }).catch(function () { setStatus('Cannot reach the server: is stnet serve still running?'); });

  function isVideo(file) {
    if (file.type) return file.type.indexOf('video/') === 0 || (file.type === 'application/octet-stream' && VIDEO_EXT.test(file.name));
    return VIDEO_EXT.test(file.name);
  }

  function choose(file) {
    showError('');
    if (!file) return;
    if (!isVideo(file)) {
      current = null; goBtn.disabled = true; preview.hidden = true; previewNote.hidden = true;
      showError('"' + file.name + '" is not a video file' + (file.type ? ' (type ' + file.type + ')' : '') + '. Choose a video such as .mp4, .avi, .mkv, .webm or .mov.');
      return;
    }
    if (maxUpload && file.size > maxUpload) {
      current = null; goBtn.disabled = true;
      showError('"' + file.name + '" is ' + mib(file.size) + ', over this server\\'s limit of ' + mib(maxUpload) + '. Choose a shorter video.');
      return;
    }
    current = file;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    previewNote.hidden = true;
    preview.src = objectUrl;
    preview.hidden = false;
    goBtn.disabled = false;
    setStatus('Ready: "' + file.name + '" (' + mib(file.size) + '). Press Classify.');
  }

  preview.addEventListener('error', function () {
    if (!current) return;
    previewNote.textContent = 'This browser cannot play this format, but the server can still classify it.';
    previewNote.hidden = false;
  });
  fileInput.addEventListener('change', function () { choose(fileInput.files && fileInput.files[0]); });
  ['dragenter', 'dragover'].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (t) {
    drop.addEventListener(t, function () { drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    var files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length > 0) choose(files[0]);
  });

  function parseServerTiming(header) {
    var out = {};
    (header || '').split(',').forEach(function (part) {
      var m = /^\\s*([a-z]+)\\s*;\\s*dur=([0-9.]+)/.exec(part);
      if (m) out[m[1]] = Number(m[2]);
    });
    return out;
  }

  function render(entry) {
    bars.textContent = '';
    resultName.textContent = '"' + entry.name + '": the 5 most probable actions.';
    entry.predictions.forEach(function (p) {
      var li = document.createElement('li'); li.className = 'bar-row';
      var label = document.createElement('span'); label.className = 'bar-label'; label.textContent = human(p.label);
      var track = document.createElement('span'); track.className = 'bar-track'; track.setAttribute('aria-hidden', 'true');
      var bar = document.createElement('span'); bar.className = 'bar'; bar.style.width = (Math.max(0, Math.min(1, p.prob)) * 100).toFixed(2) + '%';
      track.appendChild(bar);
      var prob = document.createElement('span'); prob.className = 'bar-prob'; prob.textContent = (p.prob * 100).toFixed(1) + ' %';
      li.appendChild(label); li.appendChild(track); li.appendChild(prob);
      bars.appendChild(li);
    });
    timing.textContent = '';
    [['Upload', entry.t.upload], ['Waiting in queue', entry.t.queue], ['Decode + preprocess', entry.t.decode], ['Inference', entry.t.infer], ['Total (seen by this page)', entry.t.total]].forEach(function (row) {
      if (row[1] === undefined) return;
      var dt = document.createElement('dt'); dt.textContent = row[0];
      var dd = document.createElement('dd'); dd.textContent = Math.round(row[1]) + ' ms';
      timing.appendChild(dt); timing.appendChild(dd);
    });
  }

  function remember(entry) {
    historyEmpty.hidden = true;
    var li = document.createElement('li');
    var b = document.createElement('button'); b.type = 'button';
    var top = entry.predictions[0];
    b.textContent = entry.time + ', ' + entry.name + ': ' + human(top.label) + ' ' + (top.prob * 100).toFixed(1) + ' %';
    b.setAttribute('aria-label', 'Show the chart of run ' + entry.n + ' again: ' + b.textContent);
    b.addEventListener('click', function () { render(entry); $('result-h').scrollIntoView(); });
    li.appendChild(b);
    historyList.insertBefore(li, historyList.firstChild);
  }

  function explain(status, body, headers) {
    var code = body && body.code ? body.code : 'HTTP ' + status;
    var msg = body && body.message ? body.message : 'the server answered ' + status;
    if (status === 401) { tokenRow.hidden = false; tokenInput.focus(); return 'Access token needed or wrong: ' + msg; }
    if (status === 413) return 'The video is too large for this server: ' + msg;
    if (status === 415) return 'Unsupported file: ' + msg;
    if (status === 422) return 'The server could not read this file as a video (' + code + '): ' + msg;
    if (status === 429) return 'The server is busy: try again in ' + (headers.get('retry-after') || 'a few') + ' s.';
    return 'Server error (' + code + ', HTTP ' + status + '): ' + msg;
  }

  goBtn.addEventListener('click', function () {
    if (!current || inflight) return;
    var file = current;
    var controller = new AbortController();
    inflight = controller;
    showError('');
    goBtn.disabled = true; cancelBtn.hidden = false;
    setStatus('Uploading and classifying "' + file.name + '"...');
    var headers = { 'content-type': file.type && file.type.indexOf('video/') === 0 ? file.type : 'application/octet-stream' };
    if (tokenInput.value) headers.authorization = 'Bearer ' + tokenInput.value;
    var started = performance.now();
    fetch('/predict/stnet_kinetics400?top_k=5', { method: 'POST', body: file, headers: headers, signal: controller.signal })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok || !body || !body.results || !body.results[0] || !body.results[0].ok) {
            var e = new Error(explain(res.status, body, res.headers)); e.shown = true; throw e;
          }
          var st = parseServerTiming(res.headers.get('server-timing'));
          runs += 1;
          var entry = {
            n: runs, name: file.name, predictions: body.results[0].predictions,
            time: new Date().toLocaleTimeString(),
            t: { upload: st.upload, queue: st.queue, decode: st.decode, infer: st.infer, total: performance.now() - started }
          };
          render(entry); remember(entry);
          setStatus('Done: "' + file.name + '" is most likely ' + human(entry.predictions[0].label) + ' (' + (entry.predictions[0].prob * 100).toFixed(1) + ' %).');
        });
      })
      .catch(function (err) {
        if (controller.signal.aborted) { setStatus('Cancelled.'); return; }
        setStatus('');
        showError(err && err.shown ? err.message : 'Cannot reach the server (' + (err && err.message ? err.message : err) + '): is stnet serve still running?');
      })
      .finally(function () {
        inflight = null; cancelBtn.hidden = true; goBtn.disabled = !current;
        // Back to Classify (the disabled button lost focus), unless a message moved it, e.g. to the token.
        if (document.activeElement === document.body || document.activeElement === cancelBtn || !document.activeElement) goBtn.focus();
      });
  });
  cancelBtn.addEventListener('click', function () { if (inflight) inflight.abort(); });
})();
`;
