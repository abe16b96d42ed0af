// Recognise: drop or pick photos (or take webcam snapshots); each is downscaled, uploaded
// with its own progress bar, then its result replaces the bar when the worker is done.
import {
  csrfToken, isPhoto, pollUntilFinished, showFacePanel, shrink, webcam,
} from './shared.js';

const uploader = document.getElementById('uploader');
const dropzone = uploader.querySelector('[data-dropzone]');
const input = dropzone.querySelector('input[type="file"]');
const list = document.querySelector('[data-uploads]');
const STATUS_TEXT = { pending: 'Waiting for the worker…', processing: 'Finding faces…' };
const summary = document.querySelector('[data-upload-summary]');
const counts = { chosen: 0, done: 0, failed: 0 };

// "3 of 5 photos done, 1 failed": what the status line says when a photo finishes or fails.
function summarise(outcome) {
  counts[outcome] += 1;
  const failed = counts.failed ? `, ${counts.failed} failed` : '';
  summary.textContent = `${counts.done} of ${counts.chosen} photos done${failed}.`;
}

// Uploads go one after another (each with its own progress); analyses run in the worker.
let uploads = Promise.resolve();
// Files chosen but not yet handed to the server: leaving the page now would lose them, so the
// browser asks first. Once uploaded, a photo is safe whatever the page does.
let unsent = 0;
window.addEventListener('beforeunload', (event) => {
  if (unsent) event.preventDefault();
});

function card(name) {
  const item = document.createElement('li');
  item.className = 'card upload';
  item.innerHTML = `
    <div class="upload-head"><span class="upload-name"></span><span class="muted small" data-state>Waiting…</span></div>
    <progress max="1" value="0"></progress>
    <div data-body></div>
    <div data-panel></div>`;
  item.querySelector('.upload-name').textContent = name;
  const progress = item.querySelector('progress');
  progress.setAttribute('aria-label', `Upload of ${name}`);
  list.prepend(item);
  return {
    item,
    progress,
    state(text) { item.querySelector('[data-state]').textContent = text; },
    fail(message) {
      summarise('failed');
      progress.remove();
      item.classList.add('failed');
      item.querySelector('[data-state]').textContent = 'Not uploaded';
      const p = document.createElement('p');
      p.className = 'error';
      p.setAttribute('role', 'alert');
      p.textContent = message;
      item.querySelector('[data-body]').replaceChildren(p);
    },
  };
}

// Sends `file`; `original` is the photo it was made from when it is a smaller copy, whose
// beginning goes along for its EXIF (when the photo was taken).
function send(file, source, view, original) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('file', file);
    form.append('source', source);
    if (original !== file) form.append('original_head', original.slice(0, 262144), 'head');
    const xhr = new XMLHttpRequest();  // fetch() cannot report upload progress
    xhr.open('POST', uploader.dataset.uploadUrl);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) view.progress.value = event.loaded / event.total;
    });
    xhr.addEventListener('load', () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* an HTML error page */ }
      if (xhr.status === 202 && body.photos?.length) resolve(body.photos[0]);
      else {
        view.fail(body.errors?.join(' ') || body.error?.message || `The server refused the upload (${xhr.status}).`);
        resolve(null);
      }
    });
    xhr.addEventListener('error', () => {
      view.fail('The upload failed: the server could not be reached.');
      resolve(null);
    });
    xhr.send(form);
  });
}

async function showResult(photo, view) {
  view.progress.removeAttribute('value');  // indeterminate while the worker runs
  view.state(STATUS_TEXT[photo.status] ?? photo.status);
  const done = await pollUntilFinished(photo.status_url, (data) => {
    view.state(STATUS_TEXT[data.status] ?? data.status);
  });
  const response = await fetch(photo.result_url);
  view.progress.remove();
  const outcome = done.status === 'done' ? 'Done' : 'Failed';
  summarise(done.status === 'done' ? 'done' : 'failed');
  // The same file sent before is not stored twice: its earlier result is shown.
  view.state(photo.duplicate ? `${outcome} (sent before)` : outcome);
  const head = view.item.querySelector('.upload-name');
  const link = document.createElement('a');
  link.href = photo.url;
  link.textContent = head.textContent;
  head.replaceChildren(link);
  view.item.querySelector('[data-body]').innerHTML = await response.text();
}

function add(file, source) {
  counts.chosen += 1;
  const view = card(file.name);
  if (!isPhoto(file)) {
    view.fail(`${file.name} is not a photo (${file.type || 'unknown type'}); choose JPEG, PNG, WebP, AVIF or HEIC photos.`);
    return;
  }
  unsent += 1;
  uploads = uploads.then(async () => {
    try {
      view.state('Preparing…');
      const { file: small, error } = await shrink(file);
      if (error) {
        view.fail(error);
        return;
      }
      view.state(small === file ? 'Uploading…' : 'Uploading (resized)…');
      const photo = await send(small, source, view, file);
      if (photo) showResult(photo, view);  // not awaited: the next upload starts now
    } finally {
      unsent -= 1;
    }
  });
}

input.addEventListener('change', () => {
  [...input.files].forEach((file) => add(file, 'upload'));
  input.value = '';
});
dropzone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropzone.classList.add('dragging');
});
dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
dropzone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropzone.classList.remove('dragging');
  [...event.dataTransfer.files].forEach((file) => add(file, 'upload'));
});
// The form posts by itself without this script; with it, uploads stay on the page.
dropzone.addEventListener('submit', (event) => event.preventDefault());
webcam(uploader.querySelector('[data-webcam]'), (file) => add(file, 'webcam'));

// The batch's photos the page came back with: those not done yet are followed as before.
list.querySelectorAll('li.upload[data-status-url]').forEach(async (item) => {
  const state = item.querySelector('[data-state]');
  const done = await pollUntilFinished(item.dataset.statusUrl, (data) => {
    state.textContent = STATUS_TEXT[data.status] ?? data.status;
  });
  const response = await fetch(item.dataset.resultUrl);
  state.textContent = done.status === 'done' ? 'Done' : 'Failed';
  item.querySelector('[data-body]').innerHTML = await response.text();
});

// Clicking a face opens its panel in its card: the page, and the batch, stay.
list.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-face]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  const item = link.closest('li.upload');
  showFacePanel(link, item.querySelector('[data-panel]'), item);
});
