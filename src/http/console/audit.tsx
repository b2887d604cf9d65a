import type { Context } from 'hono';
import { audit, type Problem } from '../../alerts/inventory.js';
import type { StaffEnv } from '../auth.js';
import type { ConsoleDeps } from './deps.js';
import { page } from './layout.js';

const PROBLEMS: Record<Problem, string> = {
  'recorded-but-empty': '记录有件，传感器说空 Recorded, but the sensor says empty',
  'occupied-but-free': '传感器说有物品，记录空闲 Something inside, but recorded free',
  'occupied-before-deposit': '预约未投递，却有物品 Reserved, not deposited, yet something inside',
  'door-open-unexpected': '门开着，没有开门任务 Door open with no opening under way',
  'sensor-fault': '传感器或门故障 Sensor or door fault',
};

/** Inventory audit: every compartment where the sensors and the records disagree, with what each says. */
export async function auditPage(c: Context<StaffEnv>, d: ConsoleDeps): Promise<Response> {
  const units = await d.store.units();
  const slots = await d.inventory.slots(units.map((u) => u.id));
  const rows = units.flatMap((u) => audit(u, slots.get(u.id) ?? new Map()).map((x) => ({ ...x, site: u.siteName })));
  return page(
    c,
    d,
    { title: '盘点 Inventory audit', nav: 'audit' },
    <section id="audit" data-live="units">
      <p>
        {rows.length
          ? `${rows.length} 个格口需要到现场核对。${rows.length} compartment(s) to check on site.`
          : '传感器和记录一致。The sensors and the records agree everywhere.'}
      </p>
      <ul class="list">
        {rows.map((r) => (
          <li class="card">
            <h2>
              <a href={`/console/units/${encodeURIComponent(r.unit)}#c${r.compartment}`}>
                {r.site.zh} {`${r.compartment}号格口 box ${r.compartment}`}
              </a>{' '}
              <span class="muted">{r.size}</span>
            </h2>
            <p>
              <b>{PROBLEMS[r.problem]}</b>
            </p>
            <dl class="facts">
              <dt>传感器 Sensors</dt>
              <dd>
                {r.sensors.zh} / {r.sensors.en}
              </dd>
              <dt>记录 Records</dt>
              <dd class="wrap">
                {r.records.zh} / {r.records.en}
              </dd>
            </dl>
            {r.parcels.length ? (
              <p class="row">
                {r.parcels.map((p) => (
                  <a href={`/console/parcels/${p.id}`} class="wrap">
                    {p.trackingNumber}
                  </a>
                ))}
              </p>
            ) : (
              ''
            )}
          </li>
        ))}
      </ul>
    </section>,
  );
}
