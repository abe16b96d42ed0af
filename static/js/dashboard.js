// Dashboard: charts (Chart.js, served from node_modules) and queue health, refreshed while
// the tab is visible.
/* global Chart */
const data = JSON.parse(document.getElementById('chart-data').textContent);
const COLOURS = {
  recognised: '#16834a', unknown: '#c2410c',
  angry: '#dc2626', disgusted: '#65a30d', fearful: '#7c3aed', happy: '#f59e0b',
  neutral: '#64748b', sad: '#2563eb', surprised: '#db2777',
};
const colour = (name, i) => COLOURS[name] ?? ['#0891b2', '#9333ea', '#ca8a04', '#059669'][i % 4];
const expressions = Object.keys(data.expressions);
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.animation = false;

new Chart(document.getElementById('chart-days'), {
  type: 'bar',
  data: {
    labels: data.days.map((day) => day.slice(5)),
    datasets: ['recognised', 'unknown'].map((key) => ({
      label: key === 'recognised' ? 'Recognised' : 'Unknown',
      data: data[key], backgroundColor: colour(key),
    })),
  },
  options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } },
});

// The donut's legend carries each expression's count and share: the values, in words too.
const total = expressions.reduce((sum, e) => sum + data.expressions[e], 0);
const share = (n) => (total ? Math.round((100 * n) / total) : 0);
new Chart(document.getElementById('chart-expressions'), {
  type: 'doughnut',
  data: {
    labels: expressions.map((e) => `${e}: ${data.expressions[e]} (${share(data.expressions[e])}%)`),
    datasets: [{ data: expressions.map((e) => data.expressions[e]), backgroundColor: expressions.map(colour) }],
  },
  options: { plugins: { legend: { position: 'bottom' } } },
});

const people = document.getElementById('chart-people');
if (people) {
  // A row per person, every name labelled: the chart grows with the people, not the labels
  // shrinking away on a phone.
  people.parentElement.style.height = `${Math.max(240, 40 + 30 * data.byPerson.length)}px`;
  new Chart(people, {
    type: 'bar',
    data: {
      labels: data.byPerson.map((p) => p.name),
      datasets: expressions.map((e, i) => ({
        label: e, data: data.byPerson.map((p) => p.counts[e]), backgroundColor: colour(e, i),
      })),
    },
    options: {
      indexAxis: 'y',
      scales: {
        x: { stacked: true, ticks: { precision: 0 } },
        y: { stacked: true, ticks: { autoSkip: false } },
      },
    },
  });
}

// Estimated ages and genders (absent when FACEWEB_AGE_GENDER is off, or nothing estimated).
const ages = document.getElementById('chart-ages');
if (ages) {
  new Chart(ages, {
    type: 'bar',
    data: {
      labels: Object.keys(data.ages),
      datasets: [{ label: 'Faces', data: Object.values(data.ages), backgroundColor: '#0891b2' }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { ticks: { precision: 0 } } } },
  });
}
const genders = document.getElementById('chart-genders');
if (genders) {
  const counted = data.genders.female + data.genders.male;
  const part = (n) => (counted ? Math.round((100 * n) / counted) : 0);
  new Chart(genders, {
    type: 'doughnut',
    data: {
      labels: ['female', 'male'].map((g) => `${g}: ${data.genders[g]} (${part(data.genders[g])}%)`),
      datasets: [{ data: [data.genders.female, data.genders.male], backgroundColor: ['#9333ea', '#ca8a04'] }],
    },
    options: { plugins: { legend: { position: 'bottom' } } },
  });
}

// Queue health every 5 s, only while the tab is visible.
const queue = document.getElementById('queue');
const cell = (name) => queue.querySelector(`[data-health="${name}"]`);
function status(ok, text) {
  const span = document.createElement('span');
  span.className = ok ? 'ok' : 'bad';
  span.textContent = text;
  return span;
}
async function refresh() {
  if (document.hidden) return;
  try {
    const response = await fetch(queue.dataset.healthUrl, { headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    const health = await response.json();
    cell('worker').replaceChildren(health.workers.ok
      ? status(true, `up (${health.workers.count})`)
      : status(false, health.redis.ok ? 'not answering' : 'unknown (Redis down)'));
    cell('redis').replaceChildren(health.redis.ok ? status(true, 'up') : status(false, 'down'));
    cell('storage').replaceChildren(health.storage.ok
      ? status(true, 'saving') : status(false, 'cannot save new photos'));
    if (health.storage.error) cell('storage').append(` (${health.storage.error})`);
    const waiting = health.queue.waiting;
    if (health.redis.ok) cell('redis').append(`, ${waiting} job${waiting === 1 ? '' : 's'} waiting`);
    for (const name of ['pending', 'processing', 'failed', 'done']) {
      if (health.queue[name] !== undefined) cell(name).textContent = health.queue[name];
    }
  } catch {
    // the server is restarting: the next round tries again
  }
}
setInterval(refresh, 5000);
document.addEventListener('visibilitychange', refresh);
