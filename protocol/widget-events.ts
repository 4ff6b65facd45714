/**
 * @module widget-events
 * What the Ferry widget's frame tells the page that embeds it, through postMessage: whether the visitor has switched
 * helping on, and how many people it helps right now. Nothing else crosses: no address, no traffic figure, no way back
 * in (the frame listens to no message at all, so the host page can neither start the relay nor read its state).
 * web/embed.ts re-dispatches each event on the host's document as a `ferry-widget` CustomEvent. Runtime-neutral.
 */
import { type Fail, isRecord, requireBoolean, requireInteger } from './validate.ts';

/** The `type` every widget event carries, so a host page can tell them from its other messages. */
export const WIDGET_EVENT_TYPE = 'ferry-widget';
/** The most people one widget relays for; a larger count is not a widget's. */
const MAX_WIDGET_HELPING = 64;

export interface WidgetEvent {
  type: typeof WIDGET_EVENT_TYPE;
  /** The visitor has opted in and the relay runs. */
  on: boolean;
  /** People helped right now. */
  helping: number;
}

/** A message that claims to be a widget event is malformed; `message` names the field. */
export class WidgetEventFormatError extends Error {
  override readonly name = 'WidgetEventFormatError';
  readonly code = 'WIDGET_EVENT_BAD';
}

const fail: Fail = (message) => new WidgetEventFormatError(message);

export function parseWidgetEvent(value: unknown): WidgetEvent {
  if (!isRecord(value) || value.type !== WIDGET_EVENT_TYPE) throw new WidgetEventFormatError(`a widget event is an object of type "${WIDGET_EVENT_TYPE}"`);
  return {
    type: WIDGET_EVENT_TYPE,
    on: requireBoolean(value.on, '"on"', fail),
    helping: requireInteger(value.helping, '"helping"', 0, MAX_WIDGET_HELPING, fail),
  };
}
