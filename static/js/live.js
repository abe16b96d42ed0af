// Live: the camera's video with every face boxed as it moves. face-api (TF.js, served by this
// app) finds the faces and their 68 landmarks in the browser on every frame; a small tracker
// keeps one id per face across frames; the server's identify API names each new face, one
// request at a time and at most one per `identifyEveryMs`, never once per frame. Nothing is
// stored unless "keep sightings" is on: then one snapshot per new face goes to the history.
import { csrfToken, jpegOf, livenessCheck } from './shared.js';

const root = document.querySelector('[data-live]');
const video = root.querySelector('video');
const canvas = root.querySelector('canvas');
const message = root.querySelector('[data-live-message]');
const list = root.querySelector('[data-live-faces]');
const rate = root.querySelector('[data-live-rate]');
const errorBox = root.querySelector('[data-live-error]');
const keep = root.querySelector('[data-keep-sightings]');
const verify = root.querySelector('[data-verify]');
const verifyResult = root.querySelector('[data-verify-result]');

const identifyEveryMs = Number(root.dataset.identifyEveryMs) || 700;
const RETRY_UNKNOWN_MS = 4000;  // an unknown face is asked about again after this long…
const MAX_TRIES = 3;            // …this many times in all
const LOST_MS = 1500;           // a face unseen this long has left
const MIN_OVERLAP = 0.3;        // intersection over union that continues a track
const MARGIN = 0.6;             // the crop sent to the server: the box widened by this much

// What the tests (and a curious person in the console) read: times in ms since the page
// began loading.
const stats = { firstFrameAt: null, firstBoxAt: null, firstNameAt: null, frames: 0, fps: null, requests: [], kept: 0 };
window.faceweb = { live: stats };

function fail(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
  message.hidden = true;
}

function overlap(a, b) {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const union = a.width * a.height + b.width * b.height - w * h;
  return union > 0 ? (w * h) / union : 0;
}

// One id per face across frames: each detection continues the free track it overlaps most
// (at least MIN_OVERLAP), largest overlaps first; the rest start new tracks.
class Tracker {
  constructor() { this.tracks = []; this.nextId = 1; }

  update(detections, now) {
    const pairs = [];
    detections.forEach((d, i) => this.tracks.forEach((t, j) => {
      const o = overlap(d.box, t.box);
      if (o >= MIN_OVERLAP) pairs.push([o, i, j]);
    }));
    pairs.sort((a, b) => b[0] - a[0]);
    const usedDetections = new Set();
    const usedTracks = new Set();
    for (const [, i, j] of pairs) {
      if (usedDetections.has(i) || usedTracks.has(j)) continue;
      usedDetections.add(i);
      usedTracks.add(j);
      Object.assign(this.tracks[j], { box: detections[i].box, landmarks: detections[i].landmarks, seenAt: now });
    }
    detections.forEach((d, i) => {
      if (usedDetections.has(i)) return;
      this.tracks.push({
        id: this.nextId++, box: d.box, landmarks: d.landmarks, seenAt: now, state: 'new',
        tries: 0, askedAt: 0, name: null, expression: null, live: null, kept: false,
      });
    });
    this.tracks = this.tracks.filter((t) => now - t.seenAt <= LOST_MS);
    return this.tracks.filter((t) => t.seenAt === now);
  }
}
const tracker = new Tracker();

function label(track) {
  if (track.state === 'known') return track.name;
  if (track.state === 'unknown') return 'Unknown';
  return '…';
}

function draw(visible) {
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  // Sizes in screen pixels, whatever the video's size on the page (a phone shrinks it).
  const scale = canvas.width / (canvas.clientWidth || canvas.width);
  const line = 2 * scale;
  ctx.font = `${Math.round(14 * scale)}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  for (const t of visible) {
    const colour = { known: '#1f9d55', unknown: '#d97706' }[t.state] ?? '#2563eb';
    ctx.lineWidth = line;
    ctx.strokeStyle = colour;
    ctx.strokeRect(t.box.x, t.box.y, t.box.width, t.box.height);
    ctx.fillStyle = 'rgba(255,255,255,.8)';
    for (const p of t.landmarks) ctx.fillRect(p.x - line / 2, p.y - line / 2, line, line);
    const text = [label(t), t.expression].filter(Boolean).join(' · ');
    const width = ctx.measureText(text).width + line * 4;
    const height = 20 * scale;
    const top = t.box.y > height ? t.box.y - height : t.box.y + t.box.height + height;
    ctx.fillStyle = colour;
    ctx.fillRect(t.box.x - line / 2, top - height, width, height);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, t.box.x + line * 1.5, top - 3 * scale);
  }
}

// The list under the video: what a screen reader hears, and a record of who was seen.
function showList() {
  const items = tracker.tracks.map((t) => {
    const item = document.createElement('li');
    item.dataset.track = t.id;
    item.dataset.state = t.state;
    const parts = [label(t)];
    if (t.expression) parts.push(t.expression);
    if (t.live === false) parts.push('may be a photo, not a live person');
    item.textContent = `Face ${t.id}: ${parts.join(', ')}`;
    return item;
  });
  const text = items.map((i) => i.textContent).join('|');
  if (text !== list.dataset.shown) {  // only real changes reach the live region
    list.replaceChildren(...items);
    list.dataset.shown = text;
  }
}

function frameCanvas() {
  const c = document.createElement('canvas');
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  // A canvas kept in memory, not on the GPU: read back at once, which the JPEG needs.
  c.getContext('2d', { willReadFrequently: true }).drawImage(video, 0, 0);
  return c;
}


function post(url, form) {
  return fetch(url, {
    method: 'POST', body: form, credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
  });
}

// The face's surroundings as the server should see them: the box widened by MARGIN on
// every side, inside the frame.
function around(box) {
  const grow = Math.max(box.width, box.height) * MARGIN;
  const x = Math.max(0, box.x - grow);
  const y = Math.max(0, box.y - grow);
  return {
    x, y,
    width: Math.min(video.videoWidth, box.x + box.width + grow) - x,
    height: Math.min(video.videoHeight, box.y + box.height + grow) - y,
  };
}

let busyUntil = 0;  // no request before this (the gap, or the server's Retry-After)
let asking = false;

function nextToAsk(now) {
  const due = tracker.tracks.filter((t) => now - t.seenAt < 200 && (t.state === 'new'
    || (t.state === 'unknown' && t.tries < MAX_TRIES && now - t.askedAt >= RETRY_UNKNOWN_MS)));
  return due.sort((a, b) => a.tries - b.tries || a.id - b.id)[0];
}

async function identify(track) {
  asking = true;
  track.tries += 1;
  track.askedAt = performance.now();
  const frame = frameCanvas();

  const form = new FormData();
  form.append('image', jpegOf(frame, around(track.box)), 'face.jpg');
  const started = performance.now();
  try {
    const response = await post(root.dataset.identifyUrl, form);
    stats.requests.push(performance.now() - started);
    if (response.status === 429 || response.status === 503) {
      busyUntil = performance.now() + 1000 * (Number(response.headers.get('Retry-After')) || 5);
      track.tries -= 1;
      return;
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error?.message || `identify answered ${response.status}`);
    const area = (f) => (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
    const face = body.faces.sort((a, b) => area(b) - area(a))[0];
    if (!face) {  // the browser saw a face the server did not: ask again later
      track.state = 'unknown';
      return;
    }
    track.state = face.person ? 'known' : 'unknown';
    track.name = face.person?.name ?? null;
    track.expression = face.expression;
    track.live = face.live;
    if (track.state === 'known' && stats.firstNameAt === null) stats.firstNameAt = performance.now();
    if (keep.checked && !track.kept) {
      track.kept = true;
      keepSighting(frame);
    }
  } catch (err) {
    track.state = 'unknown';
    fail(`Naming faces failed: ${err.message}`);
  } finally {
    busyUntil = Math.max(busyUntil, performance.now() + identifyEveryMs);
    asking = false;
    showList();
  }
}

async function keepSighting(frame) {
  const form = new FormData();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  form.append('file', jpegOf(frame, { x: 0, y: 0, width: frame.width, height: frame.height }), `live-${stamp}.jpg`);
  form.append('source', 'live');
  const response = await post(root.dataset.uploadUrl, form);
  if (response.status === 202) stats.kept += 1;
  else fail(`A sighting could not be kept (the server answered ${response.status}).`);
}

// "Verify me": the active liveness check, then who the person is.
// Detection and naming pause while it runs: the burst's frames then come at an even pace.
let checking = false;
verify.addEventListener('click', async () => {
  verify.disabled = true;
  checking = true;
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  verifyResult.textContent = '';
  verifyResult.className = '';
  message.classList.add('prompt');
  message.hidden = false;
  try {
    const decision = await livenessCheck(video, {
      challengeUrl: root.dataset.challengeUrl,
      decideUrl: root.dataset.livenessUrl,
      show: (text) => { message.textContent = text; },
    });
    stats.verification = decision;
    if (!decision.passed) verifyResult.textContent = `Not verified: ${decision.reason}`;
    else if (decision.person) verifyResult.textContent = `Verified: you are ${decision.person.name}, live.`;
    else verifyResult.textContent = 'You are live, but not enrolled: nobody to verify you as.';
    verifyResult.className = decision.passed ? 'ok' : 'error';
  } catch (err) {
    verifyResult.textContent = `The check could not be done: ${err.message}`;
    verifyResult.className = 'error';
  } finally {
    message.hidden = true;
    message.classList.remove('prompt');
    verify.disabled = false;
    checking = false;
  }
});

// Switched on with faces already named in view: they are sightings too.
keep.addEventListener('change', () => {
  if (!keep.checked || !video.videoWidth) return;
  const now = performance.now();
  const named = tracker.tracks.filter((t) => !t.kept && now - t.seenAt < 200
    && (t.state === 'known' || t.state === 'unknown'));
  if (!named.length) return;
  named.forEach((t) => { t.kept = true; });
  keepSighting(frameCanvas());
});

setInterval(() => {
  const now = performance.now();
  if (asking || checking || now < busyUntil || !video.videoWidth) return;
  const track = nextToAsk(now);
  if (track) identify(track);
}, 100);

async function run(faceapi) {
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 320, scoreThreshold: 0.5 });
  // The first look, before any face is boxed, is quicker and coarser: half the pixels, and
  // boxes only (a network's first run is its slowest, TF.js sets up each operation).
  const firstLook = new faceapi.TinyFaceDetectorOptions({ inputSize: 224, scoreThreshold: 0.5 });
  let frames = 0;
  let since = performance.now();
  for (;;) {
    if (checking) {  // the check's pause is not slow frames
      frames = 0;
      since = performance.now();
    } else if (video.readyState >= 2 && !video.paused) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const found = stats.firstBoxAt === null
        ? (await faceapi.detectAllFaces(video, firstLook)).map((detection) => ({ detection }))
        : await faceapi.detectAllFaces(video, options).withFaceLandmarks(true);
      const now = performance.now();
      stats.firstFrameAt ??= now;
      const visible = tracker.update(found.map((f) => ({
        box: f.detection.box, landmarks: f.landmarks?.positions ?? [],
      })), now);
      draw(visible);
      showList();
      if (visible.length && stats.firstBoxAt === null) {
        stats.firstBoxAt = now;
        message.hidden = true;
      }
      frames += 1;
      stats.frames += 1;
      if (now - since >= 2000) {
        stats.fps = (frames * 1000) / (now - since);
        rate.textContent = `${stats.fps.toFixed(1)} frames a second`;
        frames = 0;
        since = now;
      }
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}

async function start() {
  if (!navigator.mediaDevices?.getUserMedia) {
    fail('This browser gives no camera to this page (it needs HTTPS, or localhost).');
    return;
  }
  // The models load while the camera starts.
  stats.scriptAt = performance.now();
  const loading = import(root.dataset.faceApi).then(async (faceapi) => {
    stats.importedAt = performance.now();
    // WebAssembly where the browser has it (several times faster than WebGL in software and
    // than plain JavaScript), else TF.js's own choice.
    faceapi.tf.setWasmPaths(root.dataset.wasm);
    if (!(await faceapi.tf.setBackend('wasm').catch(() => false))) await faceapi.tf.setBackend('cpu');
    await faceapi.tf.ready();
    stats.backend = faceapi.tf.getBackend();
    stats.backendAt = performance.now();
    await Promise.all([
      faceapi.nets.tinyFaceDetector.loadFromUri(root.dataset.models),
      faceapi.nets.faceLandmark68TinyNet.loadFromUri(root.dataset.models),
    ]);
    stats.modelsAt = performance.now();
    return faceapi;
  });
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
    });
    await video.play();
    stats.cameraAt = performance.now();
    verify.disabled = false;
  } catch (err) {
    fail(`The camera could not be opened (${err.name}). Allow camera access for this site.`);
    return;
  }
  message.textContent = 'Looking for faces…';
  let faceapi;
  try {
    faceapi = await loading;
  } catch (err) {
    fail(`The face models could not be loaded (${err.message}).`);
    return;
  }
  run(faceapi);
}

start();
