// The web page's script (public/app.js, served as /app.js by src/server/routes/page.ts). Plain ES5-style browser code, no
// build step and no external URL, so it runs offline and under the page's CSP of 'self' only. Everything the
// client or server controls (file names, labels, messages) is shown with textContent, never as HTML.
'use strict';
(function () {
  var VIDEO_EXT = /\.(mp4|m4v|mov|avi|mkv|webm|mpe?g|flv|wmv|3gp|ts|ogv)$/i;
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
      showError('"' + file.name + '" is ' + mib(file.size) + ', over this server\'s limit of ' + mib(maxUpload) + '. Choose a shorter video.');
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
      var m = /^\s*([a-z]+)\s*;\s*dur=([0-9.]+)/.exec(part);
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
