// Helpers the pages' scripts share: the CSRF token, downscaling in the browser, the webcam,
// and polling a status URL while the tab is visible.

export function csrfToken() {
  return document.querySelector('input[name="csrfmiddlewaretoken"]')?.value ?? '';
}

// A JPEG of `file` whose longer side is at most `maxSide` pixels, upright (EXIF applied).
// Returns `file` unchanged when it is small enough, or when this browser cannot decode it:
// the server then decides, and says why if it refuses.
export async function downscale(file, maxSide) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return file;
  }
  const scale = maxSide / Math.max(bitmap.width, bitmap.height);
  if (scale >= 1) {
    bitmap.close();
    return file;
  }
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  return new File([blob], file.name.replace(/\.[^.]*$/, '') + '.jpg', { type: 'image/jpeg' });
}

// Wires a webcam block (templates/recognition/_webcam.html): open, snapshot, close.
// `onSnapshot(file, close)` gets each snapshot as a JPEG File.
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
  live.querySelector('[data-webcam-snap]').addEventListener('click', async () => {
    if (!video.videoWidth) return;  // no frame yet
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    onSnapshot(new File([blob], `webcam-${stamp}.jpg`, { type: 'image/jpeg' }), close);
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
