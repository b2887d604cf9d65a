import { LOCKDOWN_SCREEN } from '../bus/open-guard.js';
import { presenceCode } from '../domain/presence.js';
import type { ParcelDeps } from './context.js';

/**
 * What a unit's screen says. Chinese then English (≤ 40 characters); a screen that shows only ASCII (frame-485) gets
 * the English alone. Never awaited on a hot path and never failing one: a screen text is not worth a pickup.
 */
export class Screen {
  constructor(private readonly d: ParcelDeps) {}

  async show(unit: string, zh: string, en: string, seconds: number): Promise<void> {
    try {
      await this.d.commands.send(unit, { op: 'display', text: `${zh} ${en}`.slice(0, 40), ascii: en, seconds }, { timeoutMs: 3_000 });
    } catch (err) {
      this.d.logger.warn('display failed', { unit, err });
    }
  }

  /** The presence code a remote pickup must quote; it changes on the minute. A locked-down unit says so instead. */
  async presence(unit: string): Promise<void> {
    if (await this.d.commands.opens?.lockdownOf(unit).catch(() => null)) return this.show(unit, LOCKDOWN_SCREEN.zh, LOCKDOWN_SCREEN.en, 65);
    if (!this.d.policy.presenceCodes) return;
    const code = presenceCode(this.d.codeKey, unit, this.d.clock.now());
    await this.show(unit, `现场码 ${code}`, `Presence code ${code}`, 65);
  }
}
