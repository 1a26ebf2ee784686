// ClusterLite console: wires the users view, the cluster panel, the API token
// prompt and the 2-second refresh.
import { onServedBy, setAuthHandler, getToken, setToken } from './api.js';
import { ClusterPanel } from './cluster.js';
import { UsersView } from './users.js';

const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);

let toastTimer;
function toast(message) {
  const el = $('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 3000);
}

// Token prompt: concurrent 401s share one dialog.
let pendingToken = null;
function askToken(reason) {
  if (pendingToken) return pendingToken;
  const dialog = $('token-dialog');
  const input = $('token-input');
  if (reason) $('token-reason').textContent = `${reason} It is kept for this browser tab only and sent as a Bearer token.`;
  input.value = getToken();
  pendingToken = new Promise((resolve) => {
    const form = $('token-form');
    const done = (token) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      pendingToken = null;
      resolve(token);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const token = input.value.trim();
      setToken(token);
      done(token || null);
      dialog.close();
    };
    const onClose = () => done(null);
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
  });
  if (!dialog.open) dialog.showModal();
  input.focus();
  return pendingToken;
}

const cluster = new ClusterPanel($('nodes'), $('served-by'), $('cluster-warnings'));
const users = new UsersView({ toast });

onServedBy((node) => cluster.setServedBy(node));
setAuthHandler((reason) => askToken(reason));

$('token-button').addEventListener('click', async () => {
  $('token-reason').textContent = 'Requests carry this token as “Authorization: Bearer …”. It is kept for this browser tab only.';
  if (await askToken()) users.load();
});
$('token-clear').addEventListener('click', () => {
  setToken('');
  $('token-input').value = '';
  toast('Token forgotten.');
});

let clusterBusy = false;
async function refreshCluster() {
  if (clusterBusy) return;
  clusterBusy = true;
  try { await cluster.refresh(); } finally { clusterBusy = false; }
}

users.load();
refreshCluster();
setInterval(() => {
  if (document.hidden) return;
  users.load({ quiet: true });
  refreshCluster();
}, REFRESH_MS);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) { users.load({ quiet: true }); refreshCluster(); }
});
