import type { Context } from 'hono';
import { CHANNELS } from '../../notify/types.js';
import type { StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { recordStaffAction } from '../staff-actions.js';
import type { ConsoleDeps } from './deps.js';
import { formatInZone } from './format.js';
import { formText } from './forms.js';
import { Csrf, page } from './layout.js';

type C = Context<StaffEnv>;

/** Notifications that failed for good (recipients masked), each with a retry. */
export async function noticesPage(c: C, d: ConsoleDeps): Promise<Response> {
  const failures = await d.notifications.failures(100);
  return page(
    c,
    d,
    { title: '发送失败的通知 Failed notifications', nav: 'notices' },
    <section id="failures" data-live="notices">
      <p>{`${failures.length} 条 failed`}</p>
      <ul class="list">
        {failures.map((f) => (
          <li class="card">
            <p class="row">
              <b>{f.kind}</b>
              <span>{f.to}</span>
              <span>{f.channel}</span>
              <span>{`${f.attempts} 次 tries`}</span>
            </p>
            <p class="muted wrap">
              {formatInZone(f.failedAt, d.timeZone)} · {f.reason}
            </p>
            <p class="muted wrap">
              <code>{f.noticeId}</code>
            </p>
            <form method="post" action="/console/notices/retry">
              <Csrf c={c} />
              <input type="hidden" name="channel" value={f.channel} />
              <input type="hidden" name="job" value={f.jobId} />
              <button type="submit">重新发送 Send again</button>
            </form>
          </li>
        ))}
      </ul>
    </section>,
  );
}

/** Move a failed job back to waiting (BullMQ's retry); its outcome is recorded like any delivery. */
export async function retryNotice(c: C, d: ConsoleDeps): Promise<Response> {
  const body = await c.req.parseBody();
  const channel = formText(body.channel);
  const jobId = formText(body.job).slice(0, 300);
  if (!(CHANNELS as readonly string[]).includes(channel) || !jobId) throw new ApiError(400, 'validation_failed', 'channel and job are required');
  const queue = d.notifications.queues().find((q) => q.name === `notify-${channel}`);
  const job = queue ? await queue.getJob(jobId) : undefined;
  if (!job || !(await job.isFailed())) throw new ApiError(404, 'not_found', '这条通知不在失败列表中（可能已重新发送）。This notice is no longer in the failed list (sent again already?).');
  await job.retry('failed');
  await recordStaffAction(c, 'notice.retry', { channel, job: jobId, notice: (job.data as { notice?: { id?: string } })?.notice?.id ?? null }, d.clock.now());
  return c.redirect('/console/notices?done=retried', 303);
}
