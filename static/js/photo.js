// Photo result: reload once the worker is done; clicking a face shows its panel beside the
// photo (the face page itself without this script).
import { pollUntilFinished, showFacePanel } from './shared.js';

const page = document.getElementById('photo-page');
const panel = page.querySelector('[data-face-panel]');

if (page.dataset.finished !== 'true') {
  pollUntilFinished(page.dataset.statusUrl).then(() => window.location.reload());
}

page.addEventListener('click', async (event) => {
  const link = event.target.closest('a[data-face]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  await showFacePanel(link, panel, page);
  if (window.matchMedia('(max-width: 899px)').matches) panel.scrollIntoView({ behavior: 'smooth' });
});
