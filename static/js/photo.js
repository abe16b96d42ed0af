// Photo result: reload once the worker is done; clicking a face shows its panel beside the
// photo (the face page itself without this script).
import { pollUntilFinished } from './shared.js';

const page = document.getElementById('photo-page');
const panel = page.querySelector('[data-face-panel]');

if (page.dataset.finished !== 'true') {
  pollUntilFinished(page.dataset.statusUrl).then(() => window.location.reload());
}

page.addEventListener('click', async (event) => {
  const link = event.target.closest('a[data-face]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  const url = new URL(link.href);
  url.searchParams.set('panel', '');
  url.searchParams.set('next', window.location.pathname);
  const response = await fetch(url);
  if (!response.ok) return;
  panel.innerHTML = await response.text();
  page.querySelectorAll('[data-face]').forEach((el) => {
    el.classList.toggle('selected', el.dataset.face === link.dataset.face);
  });
  const heading = panel.querySelector('h2');
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
  if (window.matchMedia('(max-width: 899px)').matches) panel.scrollIntoView({ behavior: 'smooth' });
});
