/**
 * @module proxy-settings
 * Points the browser at the helper's SOCKS5 port (chrome.proxy), and gives the setting back.
 */

/** The browser's proxy, as "Proxy me" drives it. */
export interface BrowserProxy {
  pointAtSocks(socksPort: number, bypassList: readonly string[]): Promise<void>;
  /** Clears this extension's setting, which restores whatever was in effect before. */
  restore(): Promise<void>;
  /** True when the browser's proxy setting is currently this extension's (it survives browser restarts). */
  isControlledByUs(): Promise<boolean>;
}

export const chromeBrowserProxy: BrowserProxy = {
  async pointAtSocks(socksPort, bypassList) {
    await chrome.proxy.settings.set({
      value: {
        mode: 'fixed_servers',
        rules: { singleProxy: { scheme: 'socks5', host: '127.0.0.1', port: socksPort }, bypassList: [...bypassList] },
      },
      scope: 'regular',
    });
  },
  async restore() {
    await chrome.proxy.settings.clear({ scope: 'regular' });
  },
  async isControlledByUs() {
    const details = await chrome.proxy.settings.get({ incognito: false });
    return details.levelOfControl === 'controlled_by_this_extension';
  },
};
