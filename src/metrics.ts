import { Counter, Gauge, Registry } from 'prom-client';

/**
 * The gateway's metrics: prom-client counters and gauges in a registry of their own (one per gateway, so tests can
 * run several in one process), exposed at GET /metrics in the Prometheus text format with `# HELP` and `# TYPE`.
 *
 * Code counts things with `inc(name, labels, by)` and reads a value back with `get(name, labels)`. Each known
 * counter is declared once, with its help text and label names, in KNOWN_COUNTERS below; a name not in the table
 * still works (declared on first use with the labels of that call, help "(undocumented)"), so add it to the table.
 */
export const KNOWN_COUNTERS: Record<string, { help: string; labels: string[] }> = {
  lg_malformed_total: { help: 'MQTT payloads that could not be decoded (logged, counted, dropped)', labels: ['unit', 'dialect'] },
  lg_duplicates_total: { help: 'unit messages dropped as repeats (seq, message id or state already applied)', labels: ['unit'] },
  lg_handler_errors_total: { help: 'unit messages that failed to be stored (e.g. Redis down) and were left for redelivery', labels: ['unit'] },
  lg_reconciled_events_total: { help: 'events inferred from a snapshot, status or poll (reconciliation)', labels: ['unit'] },
  lg_commands_total: { help: 'commands sent to units, by result', labels: ['unit', 'op', 'result'] },
  lg_command_repeats_total: { help: 'commands asked again with an id already sent (answered from the first)', labels: ['unit'] },
  lg_line_noise_bytes_total: { help: 'frame-485: bytes of line noise skipped between frames', labels: ['unit'] },
  lg_keypad_ignored_total: { help: 'frame-485: keypad codes ignored while the keypad is off', labels: ['unit'] },
  lg_late_answers_total: { help: 'frame-485: board answers that came after the bus timeout', labels: ['unit'] },
  lg_bus_timeouts_total: { help: 'frame-485: board requests not answered within BUS_TIMEOUT_MS', labels: ['unit', 'board'] },
  lg_parcel_transitions_total: { help: 'parcel state changes, by the state entered', labels: ['to'] },
  lg_parcel_step_retries_total: { help: 'parcel steps planned again after a concurrent change', labels: [] },
  lg_allocation_races_total: { help: 'compartment reservations lost to a concurrent deposit and retried', labels: ['unit'] },
  lg_stale_codes_total: { help: 'keypad codes older than CODE_MAX_AGE_MS (replayed after a reconnect), opened nothing', labels: ['unit'] },
  lg_wrong_codes_total: { help: 'wrong pickup codes, at the keypad or through the API', labels: ['unit', 'via'] },
  lg_keypad_locks_total: { help: 'keypads locked after repeated wrong codes', labels: ['unit'] },
  lg_deposits_refused_total: { help: 'deposits refused before a compartment was reserved, by reason', labels: ['reason'] },
  lg_deposits_held_total: {
    help: 'deposit windows that ended while the unit had not confirmed the compartment shut and empty: the reservation is kept and the unit asked',
    labels: ['unit'],
  },
  lg_sweep_errors_total: { help: "sweep steps (deposit windows, deadlines, keypad locks, claims' clocks) that failed and will run again", labels: ['what'] },
  lg_engine_refused_total: { help: 'unit events the parcel service refused (a rule, not a failure), by kind and code', labels: ['kind', 'code'] },
  lg_engine_retries_total: { help: 'unit events the parcel engine tried again after an unexpected failure', labels: ['kind'] },
  lg_engine_dead_letters_total: { help: 'unit events set aside in the dead-letter stream after repeated failures', labels: ['unit'] },
  lg_unit_messages_total: { help: 'unit messages handled, per unit (each unit has its own intake queue)', labels: ['unit'] },
  lg_unit_queue_full_total: { help: "times a unit's intake queue filled up and reading from the broker paused", labels: ['unit'] },
  lg_seq_suspect_total: { help: 'json-v1: messages ignored for an impossible seq jump (watermark kept; staff told)', labels: ['unit'] },
  lg_command_throttled_total: { help: 'signed commands not sent: the unit could have forgotten a still valid one (replay guard)', labels: ['unit'] },
  lg_mqtt_refused_total: { help: 'MQTT connections the embedded broker closed by its guard, by reason', labels: ['reason'] },
  lg_opens_total: {
    help: 'door opens asked for, by kind (explained: a parcel intent of its own party; unexplained: staff, raw) and outcome (admitted, rate_limited, locked_down, tripped)',
    labels: ['unit', 'kind', 'outcome'],
  },
  lg_lockdowns_total: { help: 'lockdowns begun (unit or fleet), by cause (burst of unexplained opens, or manual)', labels: ['scope', 'cause'] },
  lg_lockdown_lifts_total: { help: 'lockdowns lifted by an admin', labels: ['scope'] },
  lg_alerts_raised_total: { help: 'staff alerts raised (each occurrence once; repeats while one is open are not counted)', labels: ['kind'] },
  // alerts clearing themselves (issue 10 follow-up); open ones: the lg_alerts_open gauge (runtime/gauges.ts)
  lg_alerts_cleared_total: { help: 'staff alerts cleared by themselves, their condition over (unit back online, door closed…)', labels: ['kind'] },
  notify_sent_total: { help: 'notifications delivered, by channel', labels: ['channel'] },
  notify_failed_total: { help: 'notifications that failed for good after every retry, by channel', labels: ['channel'] },
  notify_withdrawn_total: { help: 'reminders not sent at their time because their parcel was no longer waiting', labels: ['channel'] },
  notify_outbox_malformed_total: { help: 'outbox entries that could not be read (dropped)', labels: [] },
  lg_claims_total: { help: 'claim changes, by action (opened: by channel)', labels: ['action', 'channel'] },
  lg_claim_alerts_total: { help: "claim clock alerts sent (each stage of each clock once), by clock and stage", labels: ['clock', 'stage'] },
  // ---- several gateways (src/scale/) ----
  lg_leases_total: { help: 'unit leases this gateway acquired, lost (to another, or not renewed in time) and released', labels: ['event'] },
  lg_remote_commands_total: { help: 'commands for a unit another gateway serves: asked (by result) and run for another gateway', labels: ['side', 'result'] },
  lg_metric_label_mismatch_total: { help: 'inc() calls with labels their metric was not declared with (extra labels dropped)', labels: ['metric'] },
};

type Labels = Record<string, string>;

export class Counters {
  readonly registry = new Registry();
  private readonly counters = new Map<string, { counter: Counter<string>; labels: ReadonlySet<string> }>();
  /** the same values, readable synchronously (prom-client's own reads are async) */
  private readonly values = new Map<string, number>();

  constructor() {
    for (const name of Object.keys(KNOWN_COUNTERS)) this.declare(name);
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const c = this.counters.get(name) ?? this.declare(name, Object.keys(labels));
    let clean = labels;
    const extra = Object.keys(labels).filter((k) => !c.labels.has(k));
    if (extra.length) {
      clean = Object.fromEntries(Object.entries(labels).filter(([k]) => c.labels.has(k)));
      if (name !== 'lg_metric_label_mismatch_total') this.inc('lg_metric_label_mismatch_total', { metric: name });
    }
    c.counter.inc(Counters.promLabels(clean), by);
    const key = Counters.key(name, clean);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(name: string, labels: Labels = {}): number {
    return this.values.get(Counters.key(name, labels)) ?? 0;
  }

  /** The sum over every label set of a counter. */
  total(name: string): number {
    let sum = 0;
    for (const [k, v] of this.values) if (k.startsWith(`${name}{`)) sum += v;
    return sum;
  }

  /**
   * A gauge read when /metrics is scraped: `collect` returns the current values (one per label set). A failing
   * collect (Redis down) leaves the gauge empty for that scrape instead of failing the whole page.
   */
  gauge(name: string, help: string, labelNames: string[], collect: () => Promise<{ labels?: Labels; value: number }[]>): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await collect().catch(() => []);
        for (const r of rows) this.set(Counters.promLabels(r.labels ?? {}), r.value);
      },
    });
  }

  /** Prometheus text exposition (collects the gauges). */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private declare(name: string, labelsOfFirstUse: string[] = []) {
    const known = KNOWN_COUNTERS[name];
    const labelNames = known?.labels ?? labelsOfFirstUse;
    const counter = new Counter({ name, help: known?.help ?? '(undocumented: add it to KNOWN_COUNTERS in src/metrics.ts)', labelNames, registers: [this.registry] });
    const entry = { counter, labels: new Set(labelNames) };
    this.counters.set(name, entry);
    return entry;
  }

  /** Label values as Prometheus takes them: strings, no undefined. */
  private static promLabels(labels: Labels): Labels {
    return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
  }

  private static key(name: string, labels: Labels): string {
    const parts = Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(String(labels[k]))}`);
    return `${name}{${parts.join(',')}}`;
  }
}
