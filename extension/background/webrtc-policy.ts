/**
 * @module webrtc-policy
 * While Proxy me is on, web pages must not open WebRTC paths around the proxy: that would show their sites the
 * user's real address and show a censor direct UDP flows. chrome.privacy's webRTCIPHandlingPolicy
 * 'disable_non_proxied_udp' makes pages' WebRTC use the proxy or nothing. Measured in Chromium 156 (see
 * docs/threat-model.md, "WebRTC IP handling"): the policy applies to web pages only, so Ferry's own data channel in
 * its offscreen document still connects. Switching Proxy me off clears the setting, which gives back what was before.
 */
import type { WebRtcGuardState } from '../../protocol/extension-state.ts';

/** The value set while Proxy me is on. */
export const PROXY_ME_WEBRTC_POLICY = 'disable_non_proxied_udp';

export interface WebRtcPolicy {
  /** Sets the policy if the browser lets this extension; says what it could do. */
  restrict(): Promise<WebRtcGuardState>;
  /** Clears this extension's setting. */
  restore(): Promise<void>;
}

/** Levels of control under which this extension's setting takes effect (chrome.types.ChromeSetting). */
const OURS_TO_SET = ['controllable_by_this_extension', 'controlled_by_this_extension'];

export const chromeWebRtcPolicy: WebRtcPolicy = {
  async restrict() {
    const setting = chrome.privacy.network.webRTCIPHandlingPolicy;
    const current = await setting.get({});
    // Another extension with precedence, or an enterprise policy, holds it: setting ours would change nothing.
    if (!OURS_TO_SET.includes(current.levelOfControl)) return 'not-controllable';
    await setting.set({ value: PROXY_ME_WEBRTC_POLICY, scope: 'regular' });
    return 'restricted';
  },
  async restore() {
    await chrome.privacy.network.webRTCIPHandlingPolicy.clear({ scope: 'regular' });
  },
};
