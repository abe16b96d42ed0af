// Helpers the pages' scripts share: the CSRF token, shrinking photos in the browser before
// they are sent, the webcam, and polling a status URL while the tab is visible.

export function csrfToken() {
  return document.querySelector('input[name="csrfmiddlewaretoken"]')?.value ?? '';
}

// A JPEG of the part `box` ({x, y, width, height}) of an image, video or canvas, at `scale`.
// Encoded synchronously: a few milliseconds, where Chromium's asynchronous toBlob waited
// over a second for its turn beside a busy page (the Live page's detection loop).
export function jpegOf(source, box, scale = 1) {
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(box.width * scale);
  canvas.height = Math.round(box.height * scale);
  canvas.getContext('2d').drawImage(source, box.x, box.y, box.width, box.height,
    0, 0, canvas.width, canvas.height);
  const bytes = atob(canvas.toDataURL('image/jpeg', 0.9).split(',')[1]);
  return new Blob([Uint8Array.from(bytes, (ch) => ch.charCodeAt(0))], { type: 'image/jpeg' });
}

// The active liveness check: the server draws a challenge (blink, turn left or right, smile),
// the page shows its prompt and sends a burst of camera frames taken while the person does
// it, and the server decides (recognition/services/liveness.py).
const BURST_FRAMES = 14;     // a burst of 2.8 s…
const BURST_EVERY_MS = 200;  // …at five frames a second: a blink lasts a few of them
const BURST_WIDTH = 480;     // frames are sent at most this wide

async function postForJson(url, body) {
  const response = await fetch(url, {
    method: 'POST', body, credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
  });
  let answer = {};
  try { answer = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    throw new Error(answer.error?.message || `The server answered ${response.status}.`);
  }
  return answer;
}

// Runs one check on the playing `video`; `show(text)` tells the person what to do. Resolves
// with the server's decision ({ passed, reason, person, liveness_token, measures, … }) and
// `frames`, the burst's JPEGs; rejects with an Error whose message a person can read.
export async function livenessCheck(video, { challengeUrl, decideUrl, show }) {
  const challenge = await postForJson(challengeUrl);
  show(`${challenge.prompt}…`);
  const scale = Math.min(1, BURST_WIDTH / video.videoWidth);
  const frame = { x: 0, y: 0, width: video.videoWidth, height: video.videoHeight };
  const form = new FormData();
  form.append('token', challenge.token);
  const frames = [];
  for (let i = 0; i < BURST_FRAMES; i += 1) {
    frames.push(jpegOf(video, frame, scale));
    form.append('frames', frames[i], `frame-${i}.jpg`);
    await new Promise((resolve) => setTimeout(resolve, BURST_EVERY_MS));
  }
  show('Checking…');
  return { ...(await postForJson(decideUrl, form)), frames };
}

// The upload limits the server gave every page (templates/base.html).
export const uploadLimits = {
  maxSide: Number(document.body.dataset.uploadMaxSide),
  maxBytes: Number(document.body.dataset.uploadMaxBytes),
};

// Photo formats the server takes; a browser may not know a type for the newer ones.
const PHOTO_SUFFIXES = /\.(jpe?g|png|webp|avif|heic|heif|bmp|gif|tiff?)$/i;

export function isPhoto(file) {
  return file.type.startsWith('image/') || (!file.type && PHOTO_SUFFIXES.test(file.name));
}

// `file` made ready to send: a JPEG whose longer side is at most `maxSide` pixels, upright
// (EXIF applied), or `file` itself when it is small enough or this browser cannot decode it
// (HEIC, TIFF: the server then decodes it). Returns { file, error }: `error` says why it
// cannot be sent (too large even so), for the person who chose it.
export async function shrink(file, maxSide = uploadLimits.maxSide) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    bitmap = null;
  }
  let ready = file;
  if (bitmap && maxSide / Math.max(bitmap.width, bitmap.height) < 1) {
    const scale = maxSide / Math.max(bitmap.width, bitmap.height);
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
    ready = new File([blob], file.name, { type: 'image/jpeg' });  // the server reads the type
  }
  bitmap?.close();
  let error = null;
  if (ready.size > uploadLimits.maxBytes) {
    const limit = `${Math.round(uploadLimits.maxBytes / 1048576)} MB`;
    error = bitmap
      ? `${file.name} is larger than the ${limit} limit.`
      : `${file.name} is larger than the ${limit} limit, and this browser cannot shrink this kind of photo: save it as a JPEG first.`;
  }
  return { file: ready, error };
}

// Forms with photo inputs (enrolment, references) shrink their photos the same way before
// they are sent: the page posts as before, with smaller files.
export function shrinkOnSubmit(form) {
  form.addEventListener('submit', async (event) => {
    const inputs = [...form.querySelectorAll('input[type=file]')].filter((i) => i.files.length);
    if (form.dataset.shrunk || !inputs.length) return;
    event.preventDefault();
    const submitter = event.submitter;
    for (const input of inputs) {
      const files = new DataTransfer();
      for (const chosen of input.files) {
        const { file, error } = await shrink(chosen);
        if (error) {
          input.setCustomValidity(error);
          input.reportValidity();
          input.addEventListener('change', () => input.setCustomValidity(''), { once: true });
          return;
        }
        files.items.add(file);
      }
      input.files = files.files;
    }
    form.dataset.shrunk = '1';
    if (submitter) form.requestSubmit(submitter);
    else form.requestSubmit();
  });
}

// Wires a webcam block (templates/recognition/_webcam.html): open, snapshot, close.
// `onSnapshot(file, close, livenessToken)` gets each snapshot as a JPEG File; a block with a
// liveness challenge takes it only after the check passed, whose token comes with it.
export function webcam(container, onSnapshot) {
  const open = container.querySelector('[data-webcam-open]');
  const live = container.querySelector('[data-webcam-live]');
  const video = live.querySelector('video');
  const error = container.querySelector('[data-webcam-error]');
  let stream = null;

  if (!navigator.mediaDevices?.getUserMedia) {
    open.hidden = true;  // e.g. a page not served over HTTPS or from localhost
    return;
  }
  function close() {
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    live.hidden = true;
    open.hidden = false;
  }
  open.addEventListener('click', async () => {
    error.hidden = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
      });
    } catch (err) {
      error.textContent = `The webcam could not be opened (${err.name}). ` +
        'Allow camera access for this site, or choose a photo instead.';
      error.hidden = false;
      return;
    }
    video.srcObject = stream;
    await video.play();
    live.hidden = false;
    open.hidden = true;
  });
  live.querySelector('[data-webcam-close]').addEventListener('click', close);
  const snap = live.querySelector('[data-webcam-snap]');
  snap.addEventListener('click', async () => {
    if (!video.videoWidth) return;  // no frame yet
    error.hidden = true;
    let token = null;
    let checked = null;
    if (container.dataset.challengeUrl) {  // a live person first (enrolment)
      const prompt = container.querySelector('[data-webcam-prompt]');
      snap.disabled = true;
      prompt.hidden = false;
      try {
        const decision = await livenessCheck(video, {
          challengeUrl: container.dataset.challengeUrl,
          decideUrl: container.dataset.livenessUrl,
          show: (text) => { prompt.textContent = text; },
        });
        if (!decision.passed) throw new Error(`${decision.reason} Try again.`);
        token = decision.liveness_token;
        // The snapshot is the burst's frame facing the camera most: the face that passed.
        const yaw = decision.measures.yaw.map(Math.abs);
        checked = decision.frames[yaw.indexOf(Math.min(...yaw))];
      } catch (err) {
        error.textContent = `The liveness check did not pass: ${err.message}`;
        error.hidden = false;
        return;
      } finally {
        prompt.hidden = true;
        snap.disabled = false;
      }
    }
    const frame = { x: 0, y: 0, width: video.videoWidth, height: video.videoHeight };
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const jpeg = checked ?? jpegOf(video, frame);
    onSnapshot(new File([jpeg], `webcam-${stamp}.jpg`, { type: 'image/jpeg' }), close, token);
  });
}

// Fetches `url` (JSON) every few seconds while the tab is visible, calling `onUpdate(data)`,
// until `data.finished`; resolves with the last data. A hidden tab makes no requests.
export function pollUntilFinished(url, onUpdate = () => {}) {
  return new Promise((resolve) => {
    let delay = 700;
    let timer = null;
    let busy = false;

    async function tick() {
      timer = null;
      if (document.hidden || busy) return;  // visibilitychange starts it again
      busy = true;
      try {
        const response = await fetch(url, { headers: { Accept: 'application/json' } });
        if (response.ok) {
          const data = await response.json();
          onUpdate(data);
          if (data.finished) {
            document.removeEventListener('visibilitychange', wake);
            resolve(data);
            return;
          }
        }
      } catch {
        // offline for a moment: try again later
      } finally {
        busy = false;
      }
      delay = Math.min(delay * 1.3, 4000);
      timer = setTimeout(tick, delay);
    }
    function wake() {
      if (!document.hidden && timer === null && !busy) tick();
    }
    document.addEventListener('visibilitychange', wake);
    tick();
  });
}

// A face's panel (its page's ?panel fragment) shown in `panel`, for the face `link` clicked in
// `scope`, which marks it selected; the panel's actions come back to this page.
export async function showFacePanel(link, panel, scope) {
  const url = new URL(link.href);
  url.searchParams.set('panel', '');
  url.searchParams.set('next', window.location.pathname);
  const response = await fetch(url);
  if (!response.ok) return;
  panel.innerHTML = await response.text();
  scope.querySelectorAll('[data-face]').forEach((el) => {
    el.classList.toggle('selected', el.dataset.face === link.dataset.face);
  });
  const heading = panel.querySelector('h2');
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}
