/**
 * @module device-conditions
 * Watches what the platform tells about the device, where it tells it: running on battery (the Battery Status API,
 * `navigator.getBattery()`, Chromium) and a metered connection (the Network Information API, `navigator.connection`:
 * cellular, or the person's data saver; Chromium). It asks the relay to pause (RelayWorker.pauseForDevice) while
 * a condition the volunteer chose holds. A platform that tells nothing (Firefox, Node) never pauses. Runtime-neutral:
 * the shell passes its `navigator`.
 */
import type { DevicePauseReason } from './relay-worker.ts';

/** The part of a BatteryManager this reads. */
export interface BatteryLike extends EventTarget {
  readonly charging: boolean;
}

/** The part of a NetworkInformation this reads. */
export interface ConnectionLike extends EventTarget {
  readonly type?: string;
  readonly saveData?: boolean;
}

/** What the platform offers; the shell passes `navigator`. */
export interface DevicePlatform {
  getBattery?: () => Promise<BatteryLike>;
  connection?: ConnectionLike;
}

export interface DeviceConditionsInit {
  platform: DevicePlatform;
  pauseOnBattery: boolean;
  pauseOnMetered: boolean;
  /** Called with the reason to pause now, or undefined, whenever that changes (and once at the start). */
  onChange(reason: DevicePauseReason | undefined): void;
}

/** Connection types that cost the person by the byte. */
const METERED_CONNECTION_TYPES: ReadonlySet<string> = new Set(['cellular', 'wimax']);

export class DeviceConditions {
  readonly #init: DeviceConditionsInit;
  #battery: BatteryLike | undefined;
  #last: DevicePauseReason | undefined | null = null;
  #stopped = false;
  readonly #recheck = (): void => this.#check();

  constructor(init: DeviceConditionsInit) {
    this.#init = init;
  }

  /** Starts watching; resolves once the first reading was given to onChange. */
  async start(): Promise<void> {
    const { platform, pauseOnBattery, pauseOnMetered } = this.#init;
    if (pauseOnBattery && typeof platform.getBattery === 'function') {
      try {
        this.#battery = await platform.getBattery.call(platform);
        if (this.#stopped) return;
        this.#battery.addEventListener('chargingchange', this.#recheck);
      } catch {
        this.#battery = undefined; // the platform refused: it tells nothing
      }
    }
    if (pauseOnMetered) platform.connection?.addEventListener('change', this.#recheck);
    this.#check();
  }

  stop(): void {
    this.#stopped = true;
    this.#battery?.removeEventListener('chargingchange', this.#recheck);
    this.#init.platform.connection?.removeEventListener('change', this.#recheck);
  }

  /** The reason to pause now, battery first. */
  get reason(): DevicePauseReason | undefined {
    if (this.#init.pauseOnBattery && this.#battery !== undefined && !this.#battery.charging) return 'battery';
    const connection = this.#init.platform.connection;
    if (this.#init.pauseOnMetered && connection !== undefined && (connection.saveData === true || METERED_CONNECTION_TYPES.has(connection.type ?? ''))) {
      return 'metered';
    }
    return undefined;
  }

  #check(): void {
    if (this.#stopped) return;
    const reason = this.reason;
    if (reason === this.#last) return;
    this.#last = reason;
    this.#init.onChange(reason);
  }
}
