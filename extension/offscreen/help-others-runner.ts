/**
 * @module help-others-runner
 * Runs the volunteer relay worker where the browser has WebRTC (Chromium: the offscreen document; Firefox: the
 * background page itself) and forwards its status.
 */

import type { RelayStatus } from '../../protocol/relay-status.ts';
import { BrowserVolunteer, type BrowserVolunteerConfig } from '../../relay-worker/browser-volunteer.ts';
import type { MonthlyUsage } from '../../relay-worker/monthly-cap.ts';
import type { SelfCheckResult } from '../../relay-worker/self-check.ts';
import type { OffscreenMessage } from '../messages.ts';

/** What help-start carries: the volunteer's settings, the kind being always 'extension'. */
export type HelpOthersConfig = Omit<BrowserVolunteerConfig, 'kind'>;

/** Help others in the extension: the browser shells' volunteer (relay-worker/browser-volunteer.ts) as 'extension'. */
export class HelpOthersRunner {
  private readonly volunteer: BrowserVolunteer;

  constructor(onStatus: (status: RelayStatus) => void, saveUsage: (usage: MonthlyUsage) => void) {
    this.volunteer = new BrowserVolunteer({
      onStatus,
      // The offscreen document has no chrome.storage: the count comes in help-start and goes back to the background.
      saveUsage,
      onProblem: (message) => console.warn('[ferry] the help history could not be saved:', message),
    });
  }

  /** Starts relaying; a second start with the same settings is ignored, with other settings it restarts. */
  start(config: HelpOthersConfig): void {
    this.volunteer.start({ ...config, kind: 'extension' });
  }

  /** "Am I helping?" (relay-worker/self-check.ts); says so when Help others is not running. */
  selfCheck(): Promise<SelfCheckResult> {
    return this.volunteer.selfCheck();
  }

  /** A link for a friend was made or revoked: the running worker tells the broker at once, without a restart. */
  setPairingTokens(tokens: readonly string[]): void {
    this.volunteer.setPairingTokens(tokens);
  }

  stop(): void {
    void this.volunteer.stop();
  }
}

/** The commands of Help others (background/help-others.ts sends them) among the offscreen document's messages. */
export type HelpOthersCommand = Extract<OffscreenMessage, { type: 'help-start' | 'help-stop' | 'help-pairings' }>;

export function isHelpOthersCommand(message: OffscreenMessage): message is HelpOthersCommand {
  return message.type === 'help-start' || message.type === 'help-stop' || message.type === 'help-pairings';
}

/** Carries out one command on the runner. Throws what HelpOthersRunner.start throws (a relay that cannot start). */
export function applyHelpOthersCommand(runner: HelpOthersRunner, command: HelpOthersCommand): void {
  switch (command.type) {
    case 'help-start':
      runner.start({
        brokerUrl: command.brokerUrl,
        maxClients: command.maxClients,
        maxBytesPerSecond: command.maxBytesPerSecond,
        monthlyDataCapBytes: command.monthlyDataCapBytes,
        pauseOnBattery: command.pauseOnBattery,
        pauseOnMetered: command.pauseOnMetered,
        usage: command.usage,
        exitListKeys: command.exitListKeys,
        pairingTokens: command.pairingTokens,
      });
      return;
    case 'help-pairings':
      runner.setPairingTokens(command.pairingTokens);
      return;
    case 'help-stop':
      runner.stop();
      return;
  }
}
