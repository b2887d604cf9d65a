import type { Context } from 'hono';
import { cellState, freeBySize, type CellState, type SlotRecord } from '../../alerts/inventory.js';
import { ALERT_LABELS, type Alert } from '../../alerts/types.js';
import { SIZES, type UnitState } from '../../domain/model.js';
import type { StaffEnv } from '../auth.js';
import type { ConsoleDeps } from './deps.js';
import { ago, formatInZone, SIZE_LABELS } from './format.js';
import { page } from './layout.js';
import { LockdownBanner } from './lockdown.js';

export const CELL_LABELS: Record<CellState, string> = {
  free: '空闲 free',
  reserved: '已预约 reserved',
  occupied: '有件 occupied',
  'door-open': '门开 door open',
  overdue: '超期 overdue',
  fault: '故障 fault',
  'out-of-service': '停用 off',
};

export function Legend() {
  return (
    <ul class="legend" aria-label="颜色说明 Colour key">
      {(Object.keys(CELL_LABELS) as CellState[]).map((s) => (
        <li class={`st-${s}`}>{CELL_LABELS[s]}</li>
      ))}
    </ul>
  );
}

export function UnitStatus({ u, tz, now }: { u: UnitState; tz: string; now: number }) {
  return (
    <p class="row">
      <span class={u.online ? 'on' : 'off'}>{u.online ? '在线 online' : '离线 offline'}</span>
      {u.since ? <span class="muted">{`自 since ${formatInZone(u.since, tz)}（${ago(now - u.since)}）`}</span> : ''}
      {u.outOfService ? <span class="off">停用 out of service</span> : ''}
      {u.keypad !== 'enabled' ? <span class="off">{u.keypad === 'locked' ? '键盘锁定 keypad locked' : '键盘关闭 keypad off'}</span> : ''}
    </p>
  );
}

/** One unit: state, free compartments by size, and the grid (each cell links to the compartment on the unit page). */
export function UnitCard({ u, slots, tz, now }: { u: UnitState; slots: ReadonlyMap<number, SlotRecord>; tz: string; now: number }) {
  const free = freeBySize(u, slots);
  return (
    <section class="card" id={`unit-${u.id}`} data-live={`unit:${u.id}`} aria-labelledby={`h-${u.id}`}>
      <h2 id={`h-${u.id}`}>
        <a href={`/console/units/${encodeURIComponent(u.id)}`}>
          {u.siteName.zh} {u.siteName.en}
        </a>{' '}
        <code class="muted">{u.id}</code>
      </h2>
      <UnitStatus u={u} tz={tz} now={now} />
      <p>空闲格口 Free compartments:</p>
      <ul class="sizes">
        {SIZES.filter((s) => u.compartments.some((c) => c.size === s)).map((s) => (
          <li>
            {SIZE_LABELS[s]}: <b>{free[s]}</b>
          </li>
        ))}
      </ul>
      <ul class="grid" aria-label={`${u.id} 格口 compartments`}>
        {u.compartments.map((c) => {
          const st = cellState(c, slots.get(c.no) ?? null, now);
          return (
            <li>
              <a
                class={`cell st-${st}`}
                id={`cell-${u.id}-${c.no}`}
                data-state={st}
                href={`/console/units/${encodeURIComponent(u.id)}#c${c.no}`}
              >
                <b>{c.no}</b> {c.size} {CELL_LABELS[st].split(' ')[0]}
                <span class="sr">{` box ${c.no} ${CELL_LABELS[st].split(' ').slice(1).join(' ')}`}</span>
              </a>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

export function AlertsBanner({ alerts, count }: { alerts: Alert[]; count: number }) {
  return (
    <div id="alerts-banner" data-live="alerts">
      {alerts.length ? (
        <div class="alerts-banner" role="status">
          <p>
            <b>{`${count} 条未确认警报 open alert(s)`}</b> · <a href="/console/alerts">查看 View</a>
          </p>
          <ul>
            {alerts.slice(0, 3).map((a) => (
              <li>
                {ALERT_LABELS[a.kind].zh} {ALERT_LABELS[a.kind].en}
                {a.unit ? ` · ${a.unit}` : ''}
                {a.compartment !== undefined ? ` · ${a.compartment}号` : ''}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        ''
      )}
    </div>
  );
}

export async function overviewPage(c: Context<StaffEnv>, d: ConsoleDeps): Promise<Response> {
  const now = d.clock.now();
  const units = await d.store.units();
  const [slots, alerts, count] = await Promise.all([d.inventory.slots(units.map((u) => u.id)), d.alerts.open(3), d.alerts.openCount()]);
  return page(
    c,
    d,
    { title: '总览 Overview', nav: 'overview' },
    <>
      <LockdownBanner d={d} />
      <AlertsBanner alerts={alerts} count={count} />
      <Legend />
      {units.map((u) => (
        <UnitCard u={u} slots={slots.get(u.id) ?? new Map()} tz={d.timeZone} now={now} />
      ))}
    </>,
  );
}
