// Makes the README's screenshot of the UI (docs/ui.png, or the path in
// CLUSTERLITE_E2E_SCREENSHOT) from the ClusterLite at CLUSTERLITE_E2E_URL.
// Adds a few sample users when the table has fewer than six.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_URL, WAIT, launch, api, createUser } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '..', '..', process.env.CLUSTERLITE_E2E_SCREENSHOT || 'docs/ui.png');

const samples = [
  ['Ada Lovelace', 'ada@analytical.example'],
  ['Grace Hopper', 'grace.hopper@navy.example'],
  ['Alan Turing', 'alan@bletchley.example'],
  ['Barbara Liskov', 'liskov@csail.example'],
  ['Edsger Dijkstra', 'ewd@eindhoven.example'],
  ['Katherine Johnson', 'kjohnson@langley.example'],
  ['Leslie Lamport', 'lamport@paxos.example'],
];

const existing = await api('GET', '/users?limit=10');
if (existing.status !== 200) throw new Error(`GET /users answered ${existing.status}`);
if (existing.body.length < 6) {
  const have = new Set(existing.body.map((u) => u.email));
  for (const [name, email] of samples) if (!have.has(email)) await createUser(name, email);
}

const browser = await launch();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 920 });
  await page.goto(`${BASE_URL}/ui/`);
  await page.waitForFunction(() => {
    const nodes = [...document.querySelectorAll('#nodes .node')];
    return document.querySelectorAll('#users-body tr').length > 0 && nodes.length > 0 &&
      nodes.every((n) => n.dataset.state === 'ok') && document.getElementById('served-by').textContent !== '';
  }, null, { timeout: WAIT });
  await page.waitForTimeout(2500); // let the refresh settle and highlights fade
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
