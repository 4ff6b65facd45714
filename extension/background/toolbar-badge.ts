/**
 * @module toolbar-badge
 * The toolbar badge while Help others helps people: how many right now, empty when nobody. The same in every browser;
 * each init file passes its own action API (chrome.action, or browser.action from webextension-polyfill).
 */
import { badgeText } from '../ui-state.ts';

/** The badge's colour while helping: the icon's sail yellow is too light behind white digits. */
export const BADGE_COLOR = '#0f5e73';

/** The part of the action API the badge uses. */
export interface ToolbarAction {
  setBadgeText(details: { text: string }): Promise<void>;
  setBadgeBackgroundColor(details: { color: string }): Promise<void>;
}

/** HelpOthersDeps.showHelping on this browser's toolbar button. */
export function showHelpingOnBadge(action: ToolbarAction): (clientsNow: number) => Promise<void> {
  return async (clientsNow) => {
    await action.setBadgeText({ text: badgeText(clientsNow) });
    if (clientsNow > 0) await action.setBadgeBackgroundColor({ color: BADGE_COLOR });
  };
}
