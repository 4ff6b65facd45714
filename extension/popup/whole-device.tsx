/**
 * @module popup/whole-device
 * The "Whole device" switch under Proxy me: asks the helper to carry every program's traffic (its whole-device mode,
 * through the privileged service), and says where that stands, with the helper's reason when it cannot be on (not
 * Linux, the service not installed), which the helper checks as soon as Proxy me starts it. The switch stays usable
 * then: flipping it asks again (the service may have been installed meanwhile). Shown while Proxy me is connected, or
 * while the mode is not off.
 */
import type { ProxyMeState } from '../../protocol/extension-state.ts';
import { useTranslator } from '../../web/i18n-context.ts';

export function WholeDeviceSwitch({ state, onToggle }: { state: ProxyMeState; onToggle: (on: boolean) => void }) {
  const { t } = useTranslator();
  const on = state.wholeDevice === 'on' || state.wholeDevice === 'starting';
  const status =
    state.wholeDevice === 'on'
      ? t('wholeDeviceOn')
      : state.wholeDevice === 'starting'
        ? t('wholeDeviceStarting')
        : state.wholeDevice === 'failed'
          ? t('wholeDeviceFailed', state.wholeDeviceReason)
          : state.wholeDevice === 'unavailable'
            ? t('wholeDeviceUnavailable', state.wholeDeviceReason)
            : t('wholeDeviceHint');
  return (
    <div class="sub-feature">
      <label class="switch-row" for="whole-device">
        <span>{t('wholeDevice')}</span>
        <input
          type="checkbox"
          role="switch"
          id="whole-device"
          aria-checked={on}
          checked={on}
          disabled={state.wholeDevice === 'starting'}
          onChange={(event) => onToggle(event.currentTarget.checked)}
        />
      </label>
      <p id="whole-device-status" class={state.wholeDevice === 'failed' ? 'small error' : 'small muted'}>
        {status}
      </p>
    </div>
  );
}
