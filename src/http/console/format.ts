const formatters = new Map<string, Intl.DateTimeFormat>();

/** `2026-11-29 18:41` in the community's time zone (TIME_ZONE). */
export function formatInZone(ms: number | null | undefined, timeZone: string): string {
  if (!ms) return '—';
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f.format(new Date(ms));
}

/** Durations as staff say them: `3 分钟 min`, `2 小时 h`, `5 天 days`. */
export function ago(ms: number): string {
  const m = Math.max(0, Math.round(ms / 60_000));
  if (m < 60) return `${m} 分钟 min`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} 小时 h`;
  return `${Math.round(h / 24)} 天 days`;
}

export const PARCEL_STATE_LABELS: Record<string, string> = {
  reserved: '已预约 reserved',
  depositing: '投递中 depositing',
  stored: '待取 waiting',
  collecting: '取件中 collecting',
  collected: '已取 collected',
  cancelled: '已取消 cancelled',
  expired: '超期 overdue',
  returning: '退回中 returning',
  returned: '已退回 returned',
  missing: '不见了 missing',
};

export const SIZE_LABELS: Record<string, string> = { S: '小 S', M: '中 M', L: '大 L', XL: '特大 XL' };
