// The dashboard: plain modules, no build step. It reads the same public API as the CLI and
// refreshes whenever the node announces a new block (server-sent events).
const UNIT = 10n ** 18n;

function ath(units, decimals = 6) {
  const v = BigInt(units);
  const whole = v / UNIT;
  let frac = (v % UNIT).toString().padStart(18, '0').slice(0, decimals).replace(/0+$/, '');
  if (whole === 0n && !frac && v > 0n) return `${(Number(v) / 1e18).toExponential(2)} ATH`;
  return `${whole}${frac ? '.' + frac : ''} ATH`;
}

function short(a) {
  return a.length > 16 ? `${a.slice(0, 10)}…${a.slice(-4)}` : a;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fill(tableId, rows, empty) {
  const tbody = document.querySelector(`#${tableId} tbody`);
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(empty);
    td.colSpan = 10;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const r of rows) tbody.append(r);
}

async function get(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

let containerNames = new Map();

async function refresh() {
  const [status, cs, ls, rs] = await Promise.all([
    get('/v1/status'),
    get('/v1/containers?limit=1000'),
    get('/v1/leases?limit=50'),
    get('/v1/checkers/reports?limit=20'),
  ]);
  document.getElementById('chain-id').textContent = status.chainId;
  document.getElementById('height').textContent = String(status.height);
  document.getElementById('root').textContent = status.root;
  document.getElementById('epoch').textContent = String(status.economics.lastEpoch + 1);
  document.getElementById('reward-pool').textContent = ath(status.economics.rewardPool, 0);
  document.getElementById('coefficient').textContent = (status.economics.coefficientBps / 10000).toFixed(2);
  containerNames = new Map(cs.containers.map((c) => [c.id, c.name]));
  document.getElementById('containers-count').textContent =
    `${status.containers.online} online of ${status.containers.total}`;
  fill(
    'containers',
    cs.containers.map((c) => {
      const tr = document.createElement('tr');
      tr.dataset.id = c.id;
      const name = cell(c.name);
      if (c.simulated) {
        const s = document.createElement('span');
        s.className = 'sim';
        s.textContent = 'simulated';
        name.append(s);
      }
      tr.append(
        name,
        c.suspended
          ? Object.assign(cell('suspended', 'status-offline'), {
              title: c.suspendedReason ?? 'stake below the requirement after a slash',
            })
          : cell(c.status, `status-${c.status}`),
        cell(
          c.gpusTotal
            ? `${c.gpusFree}/${c.gpusTotal} × ${c.spec.gpus[0].model.replace(/^NVIDIA /, '')}`
            : 'CPU only',
        ),
        cell(`${c.spec.cpu.cores} cores`),
        cell(`${c.location.city}, ${c.location.country}`),
        cell(ath(c.pricePerHour, 3)),
        cell(String(c.openLeases)),
        cell(c.reputation ? c.reputation.score.toFixed(2) : ''),
      );
      return tr;
    }),
    'no containers yet',
  );
  document.getElementById('leases-count').textContent =
    `${status.leases.open} open, ${status.leases.total} in all`;
  fill(
    'leases',
    ls.leases.map((l) => {
      const tr = document.createElement('tr');
      tr.dataset.id = l.id;
      tr.append(
        cell(l.id),
        cell(l.status, `status-${l.status}`),
        cell(containerNames.get(l.container) ?? short(l.container)),
        cell(
          (l.workload.command ? l.workload.command.join(' ') : `app ${l.workload.app}`).slice(0, 48) +
            // the API gives env names only, never values
            (l.workload.envNames ? ` (env ${l.workload.envNames.join(', ')})` : ''),
        ),
        cell(`${(l.durationMs / 1000).toFixed(1)} s`),
        cell(ath(l.charged, 9)),
        cell(`${ath(l.hostShare, 9)} / ${ath(l.protocolShare, 9)}`),
        cell(l.exitCode === null ? '' : String(l.exitCode)),
      );
      return tr;
    }),
    'no leases yet: run  npx aethir rent -- node -e "console.log(6*7)"',
  );
  fill(
    'reports',
    rs.reports.map((r) => {
      const tr = document.createElement('tr');
      tr.append(
        cell(String(r.height)),
        cell(short(r.checker)),
        cell(containerNames.get(r.container) ?? short(r.container)),
        cell(r.check),
        Object.assign(
          cell(
            r.check === 'liveness' ? (r.ok ? 'online' : 'offline') : r.ok ? 'passed' : 'failed',
            r.ok ? 'status-online' : 'status-offline',
          ),
          { title: r.reason ?? '' },
        ),
        cell(new Date(r.observedAt).toLocaleTimeString()),
      );
      return tr;
    }),
    'no reports yet',
  );
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    refresh().catch((e) => console.error(e));
  }, 100);
}

const live = document.getElementById('live');
const events = new EventSource('/v1/events');
events.addEventListener('block', schedule);
events.onopen = () => {
  live.textContent = 'live';
  live.classList.remove('down');
};
events.onerror = () => {
  live.textContent = 'reconnecting…';
  live.classList.add('down');
};
refresh().catch((e) => console.error(e));
