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
  var timelineSection = $('timeline-box'), timelineEl = $('timeline'), legendEl = $('legend'), windowInput = $('window');
  var progressEl = $('progress'), progressText = $('progress-text');
  var current = null, previewFile = null, objectUrl = null, inflight = null, maxUpload = 0, runs = 0;

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
    previewFile = file;
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

  function render(entry, span) {
    bars.textContent = '';
    resultName.textContent = '"' + entry.name + '"' + (span ? ' at ' + span : '') + ': the 5 most probable actions.';
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
    b.textContent = entry.time + ', ' + entry.name + ': ' + (entry.windows ? 'timeline of ' + entry.windows.length + ' windows, first ' : '') + human(top.label) + ' ' + (top.prob * 100).toFixed(1) + ' %';
    b.setAttribute('aria-label', 'Show the chart of run ' + entry.n + ' again: ' + b.textContent);
    b.addEventListener('click', function () { showEntry(entry); $('result-h').scrollIntoView(); });
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

  // Timeline: bands of the top label of each window across the video; the bars follow the playing position.
  // A window's band runs from its start to the next window's start (windows overlap: the newest one rules).
  var PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  var shown = null, shownWindow = -1;


  function clearChart() {
    shown = null; shownWindow = -1;
    bars.textContent = ''; timing.textContent = '';
    timelineEl.textContent = ''; legendEl.textContent = ''; timelineSection.hidden = true;
    resultName.textContent = 'No result yet.';
  }

  function windowAt(entry, t) {
    var ws = entry.windows, k = 0;
    for (var i = 0; i < ws.length; i++) if (ws[i].startSec <= t) k = i;
    return k;
  }

  function showWindow(entry, k) {
    if (!entry.windows || !entry.windows[k]) return;
    shownWindow = k;
    var w = entry.windows[k];
    render({ name: entry.name, predictions: w.predictions, t: entry.t }, fmtTime(w.startSec) + '-' + fmtTime(w.endSec));
    Array.prototype.forEach.call(timelineEl.children, function (b, i) {
      b.classList.toggle('active', i === k);
      b.setAttribute('aria-pressed', i === k ? 'true' : 'false');
    });
  }

  function fmtTime(sec) {
    var m = Math.floor(sec / 60), s = sec - m * 60;
    return m + ':' + (s < 10 ? '0' : '') + s.toFixed(1);
  }

  function renderTimeline(entry) {
    timelineEl.textContent = ''; legendEl.textContent = '';
    var ws = entry.windows;
    if (!ws || ws.length === 0) { timelineSection.hidden = true; return; }
    timelineSection.hidden = false;
    var total = Math.max(entry.duration || 0, ws[ws.length - 1].endSec) || 1;
    // Colours by order of first appearance, so the first ten different labels never share one.
    var seen = {}, colours = {}, used = 0;
    var bandColour = function (index) {
      if (colours[index] === undefined) colours[index] = PALETTE[used++ % PALETTE.length];
      return colours[index];
    };
    ws.forEach(function (w, k) {
      var top = w.predictions[0];
      var to = k + 1 < ws.length ? ws[k + 1].startSec : w.endSec;
      var b = document.createElement('button'); b.type = 'button'; b.className = 'band';
      b.style.left = (w.startSec / total * 100).toFixed(3) + '%';
      b.style.width = (Math.max(0, to - w.startSec) / total * 100).toFixed(3) + '%';
      b.style.background = bandColour(top.index);
      b.textContent = human(top.label);
      b.title = fmtTime(w.startSec) + '-' + fmtTime(w.endSec) + ': ' + human(top.label) + ' ' + (top.prob * 100).toFixed(1) + ' %';
      b.setAttribute('aria-label', 'Window ' + (k + 1) + ', ' + b.title + '. Play from here.');
      b.addEventListener('click', function () {
        if (shown === entry && !preview.hidden && isFinite(preview.duration)) preview.currentTime = w.startSec;
        showWindow(entry, k);
      });
      timelineEl.appendChild(b);
      if (!seen[top.index]) {
        seen[top.index] = true;
        var li = document.createElement('li');
        var sw = document.createElement('span'); sw.className = 'swatch'; sw.style.background = bandColour(top.index); sw.setAttribute('aria-hidden', 'true');
        var tx = document.createElement('span'); tx.textContent = human(top.label);
        li.appendChild(sw); li.appendChild(tx); legendEl.appendChild(li);
      }
    });
  }

  function showEntry(entry) {
    shown = entry;
    if (entry.windows) {
      renderTimeline(entry);
      showWindow(entry, isFinite(preview.currentTime) && entry.file === current ? windowAt(entry, preview.currentTime) : 0);
    } else {
      timelineSection.hidden = true; timelineEl.textContent = ''; legendEl.textContent = '';
      render(entry);
    }
  }

  preview.addEventListener('timeupdate', function () {
    if (!shown || !shown.windows || shown.file !== current) return;
    var k = windowAt(shown, preview.currentTime);
    if (k !== shownWindow) showWindow(shown, k);
  });

  function setProgress(value, max, text) {
    progressEl.hidden = false;
    if (max > 0) { progressEl.max = max; progressEl.value = Math.min(value, max); } else progressEl.removeAttribute('value');
    progressText.textContent = text;
  }
  function hideProgress() { progressEl.hidden = true; progressText.textContent = ''; }

  /** Windows the server will send for a video of `d` seconds (the rule of docs/timeline.md, in seconds). */
  function expectedWindows(d, win, stride) {
    if (!(d > win)) return 1;
    var k = 1 + Math.floor((d - win) / stride + 1e-9);
    return (k - 1) * stride + win < d - 1e-9 ? k + 1 : k;
  }

  goBtn.addEventListener('click', function () {
    if (!current || inflight) return;
    var file = current;
    var win = Number(windowInput.value);
    if (!(win > 0)) { showError('The timeline window must be a positive number of seconds.'); windowInput.focus(); return; }
    var stride = win / 2;
    var duration = file === previewFile && isFinite(preview.duration) ? preview.duration : NaN;
    // Longer than one window: a timeline, streamed; otherwise one answer for the whole video.
    var timeline = duration > win;
    var xhr = new XMLHttpRequest();
    inflight = xhr;
    showError(''); clearChart();
    goBtn.disabled = true; cancelBtn.hidden = false;
    setStatus((timeline ? 'Uploading "' + file.name + '" for a timeline...' : 'Uploading and classifying "' + file.name + '"...'));
    var started = performance.now(), uploadedAt;
    var expected = timeline ? expectedWindows(duration, win, stride) : 0;
    var entry = { name: file.name, file: file, duration: duration, windows: timeline ? [] : null, predictions: null, t: {}, time: '' };
    var read = 0;
    xhr.open('POST', timeline ? '/v1/timeline?top_k=5&window=' + encodeURIComponent(win) + '&stride=' + encodeURIComponent(stride) : '/predict/stnet_kinetics400?top_k=5');
    xhr.setRequestHeader('content-type', file.type && file.type.indexOf('video/') === 0 ? file.type : 'application/octet-stream');
    if (timeline) xhr.setRequestHeader('accept', 'application/x-ndjson');
    if (tokenInput.value) xhr.setRequestHeader('authorization', 'Bearer ' + tokenInput.value);
    xhr.upload.onprogress = function (e) {
      setProgress(e.loaded, e.lengthComputable ? e.total : file.size, 'Uploaded ' + mib(e.loaded) + ' of ' + mib(e.lengthComputable ? e.total : file.size));
    };
    xhr.upload.onload = function () {
      uploadedAt = performance.now();
      if (timeline) setProgress(0, expected, 'Uploaded. Windows done: 0 of ' + expected);
      else setProgress(0, 0, 'Uploaded. Classifying...');
    };
    var failed = null;
    // NDJSON: each complete line is one window (or the error that ended the stream).
    function takeLines() {
      if (!timeline || xhr.status !== 200) return;
      var text = xhr.responseText, nl;
      while ((nl = text.indexOf('\n', read)) >= 0) {
        var line = text.slice(read, nl); read = nl + 1;
        if (!line.trim()) continue;
        var obj = JSON.parse(line);
        if (obj.error) { failed = obj.error; continue; }
        entry.windows.push(obj);
        if (entry.windows.length === 1) showEntry(entry);
        else { renderTimeline(entry); showWindow(entry, shownWindow); }
        var n = entry.windows.length;
        setProgress(n, Math.max(expected, n), 'Windows done: ' + n + ' of ' + Math.max(expected, n));
        setStatus('Classifying "' + file.name + '": ' + n + ' window' + (n === 1 ? '' : 's') + ' done.');
      }
    }
    xhr.onprogress = takeLines;
    function finish() {
      inflight = null; cancelBtn.hidden = true; goBtn.disabled = !current; hideProgress();
      // Back to Classify (the disabled button lost focus), unless a message moved it, e.g. to the token.
      if (document.activeElement === document.body || document.activeElement === cancelBtn || !document.activeElement) goBtn.focus();
    }
    xhr.onabort = function () { clearChart(); setStatus('Cancelled.'); finish(); };
    xhr.onerror = function () {
      clearChart(); setStatus('');
      showError('Cannot reach the server (the connection failed): is stnet serve still running?');
      finish();
    };
    xhr.onload = function () {
      var body = null;
      var headers = { get: function (n) { return xhr.getResponseHeader(n); } };
      try {
        takeLines();
        if (!timeline || xhr.status !== 200) body = JSON.parse(xhr.responseText);
      } catch (e) { body = null; }
      var total = performance.now() - started;
      if (timeline && xhr.status === 200 && !failed && entry.windows.length > 0) {
        entry.t = { upload: uploadedAt !== undefined ? uploadedAt - started : undefined, total: total };
        entry.predictions = entry.windows[0].predictions;
        finishEntry(entry);
        setStatus('Done: "' + file.name + '": ' + entry.windows.length + ' windows. Play the video or choose a band to see each window\'s actions.');
      } else if (!timeline && xhr.status === 200 && body && body.results && body.results[0] && body.results[0].ok) {
        var st = parseServerTiming(xhr.getResponseHeader('server-timing'));
        entry.predictions = body.results[0].predictions;
        entry.t = { upload: st.upload, queue: st.queue, decode: st.decode, infer: st.infer, total: total };
        finishEntry(entry);
        setStatus('Done: "' + file.name + '" is most likely ' + human(entry.predictions[0].label) + ' (' + (entry.predictions[0].prob * 100).toFixed(1) + ' %).');
      } else {
        clearChart(); setStatus('');
        if (failed) showError('The timeline stopped (' + failed.code + '): ' + failed.message);
        else showError(explain(xhr.status, body, headers));
      }
      finish();
    };
    xhr.send(file);
  });

  function finishEntry(entry) {
    runs += 1; entry.n = runs; entry.time = new Date().toLocaleTimeString();
    showEntry(entry); remember(entry);
  }
  cancelBtn.addEventListener('click', function () { if (inflight) inflight.abort(); });
})();
