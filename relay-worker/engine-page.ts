/**
 * @module engine-page
 * The page `ferry volunteer` opens in its own headless Chromium (chromium-engine.ts): the same RelayWorker as every
 * other shell, on the browser's WebRTC (browser.ts), driven over the engine link (engine-link.ts). It keeps no state of
 * its own: the monthly count goes back to the Node side, which keeps it in its state file.
 */
import { idleRelayStatus } from '../protocol/relay-status.ts';
import { browserRelayEnvironment } from './browser.ts';
import { createRelayWorkerConfig } from './config.ts';
import { ENGINE_LINK_PATH, type EngineCommand, type EngineReport, parseEngineCommand } from './engine-link.ts';
import type { MonthlyUsage } from './monthly-cap.ts';
import { RelayWorker } from './relay-worker.ts';

/**
 * Connects to the link at this page's own origin with `key` (from the page's fragment, which no request carries),
 * and relays as told until `stop`. The link closing ends the relay too: its Node side is gone.
 */
export function runEnginePage(location: Location, key: string): void {
  const link = new WebSocket(`ws://${location.host}${ENGINE_LINK_PATH}?key=${encodeURIComponent(key)}`);
  let worker: RelayWorker | undefined;
  const report = (message: EngineReport): void => {
    if (link.readyState === WebSocket.OPEN) link.send(JSON.stringify(message));
  };
  link.addEventListener('open', () => report({ type: 'ready', userAgent: navigator.userAgent }));
  link.addEventListener('close', () => worker?.stop());
  link.addEventListener('message', (event: MessageEvent<unknown>) => {
    let command: EngineCommand;
    try {
      command = parseEngineCommand(typeof event.data === 'string' ? event.data : '');
    } catch (error) {
      report({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
      return;
    }
    if (command.type === 'stop') {
      worker?.stop();
      report({ type: 'stopped', status: worker?.status ?? idleRelayStatus('stopped') });
      return;
    }
    if (worker !== undefined) return;
    try {
      const usage: MonthlyUsage | undefined = command.usage;
      worker = new RelayWorker({
        config: createRelayWorkerConfig(command.config),
        environment: browserRelayEnvironment(),
        onStatus: (status) => report({ type: 'status', status }),
        usageStore: {
          load: async () => usage,
          save: async (next) => report({ type: 'usage', usage: next }),
        },
      });
      worker.start();
    } catch (error) {
      worker = undefined;
      report({ type: 'failed', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  });
}
