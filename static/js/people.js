// People pages: a webcam snapshot can stand in for the photo file of a form (whose photos are
// shrunk before they are sent, as on Recognise), photos being added to a person are followed
// until the worker is done with them, and a group of unknown faces can be ticked at once.
import { pollUntilFinished, shrinkOnSubmit, webcam } from './shared.js';

document.querySelectorAll('[data-snapshot-form]').forEach((form) => {
  shrinkOnSubmit(form);
  const input = form.querySelector('[data-snapshot-target]');
  const source = form.querySelector('[data-snapshot-source]');
  const preview = form.querySelector('[data-snapshot-preview]');
  const liveness = form.querySelector('[data-snapshot-liveness]');
  webcam(form.querySelector('[data-webcam]'), (file, close, token) => {
    liveness.value = token ?? '';
    const files = new DataTransfer();
    files.items.add(file);
    input.files = files.files;
    source.value = 'webcam';
    URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    close();
  });
  input.addEventListener('change', () => {
    if (input.files.length && !input.files[0].name.startsWith('webcam-')) {
      source.value = 'upload';
      liveness.value = '';
      preview.hidden = true;
    }
  });
});

const pending = [...document.querySelectorAll('[data-status-url]')];
if (pending.length) {
  Promise.all(pending.map((el) => pollUntilFinished(el.dataset.statusUrl)))
    .then(() => window.location.reload());
}

// Unknown faces: nothing is ticked for the admin; one button ticks a whole group.
document.querySelectorAll('[data-group]').forEach((form) => {
  form.querySelector('[data-tick-all]').addEventListener('click', () => {
    form.querySelectorAll('input[type=checkbox]').forEach((box) => { box.checked = true; });
  });
});
