/**
 * @module options
 * The settings page. Every field is validated before anything is stored (settings.ts holds the rules and defaults).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { PROXY_ME_AVAILABLE } from '../browser-target.ts';
import { DEFAULT_SETTINGS, MIN_MAX_MBPS, parseSettingsForm, SETTINGS_KEYS, type SettingsForm, type SettingsKey, settingsToForm } from '../settings.ts';
import '../ui.css';
import { PairingLinks } from './pairing-links.tsx';
import './options.css';

/** Shows whatever is stored, valid or not, so a bad stored value can be seen and fixed. */
function storedToForm(stored: Record<string, unknown>): SettingsForm {
  const form = settingsToForm(DEFAULT_SETTINGS);
  for (const key of SETTINGS_KEYS) {
    const value = stored[key];
    if (value === undefined) continue;
    form[key] = Array.isArray(value) ? value.map(String).join('\n') : String(value);
  }
  return form;
}

interface FieldProps {
  name: SettingsKey;
  label: string;
  hint: string;
  form: SettingsForm;
  errors: Partial<Record<SettingsKey, string>>;
  multiline?: boolean;
  onInput: (key: SettingsKey, value: string) => void;
}

function Field({ name, label, hint, form, errors, multiline, onInput }: FieldProps) {
  const error = errors[name];
  const common = {
    id: name,
    name,
    value: form[name],
    'aria-invalid': error !== undefined,
    'aria-describedby': `${name}-hint ${name}-error`,
    onInput: (event: Event) => onInput(name, (event.currentTarget as HTMLInputElement | HTMLTextAreaElement).value),
  };
  return (
    <div class="field">
      <label for={name}>{label}</label>
      {multiline ? <textarea rows={11} {...common} /> : <input type="text" spellcheck={false} {...common} />}
      <p id={`${name}-hint`} class="muted hint">
        {hint}
      </p>
      <p id={`${name}-error`} class="error" role="alert">
        {error ?? ''}
      </p>
    </div>
  );
}

function Options() {
  const [form, setForm] = useState<SettingsForm | undefined>(undefined);
  const [errors, setErrors] = useState<Partial<Record<SettingsKey, string>>>({});
  const [notice, setNotice] = useState('');

  useEffect(() => {
    void chrome.storage.local.get([...SETTINGS_KEYS]).then((stored) => setForm(storedToForm(stored)));
  }, []);

  if (form === undefined) return <p class="muted">Loading…</p>;

  const onInput = (key: SettingsKey, value: string): void => {
    setForm({ ...form, [key]: value });
    setNotice('');
  };

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    if (form === undefined) return;
    const result = parseSettingsForm(form);
    if (!result.ok) {
      setErrors(result.errors);
      setNotice('Nothing saved: fix the fields marked above.');
      return;
    }
    setErrors({});
    await chrome.storage.local.set(result.settings);
    setForm(settingsToForm(result.settings));
    setNotice('Saved. Changes apply the next time you switch a feature on.');
  }

  const props = { form, errors, onInput };
  return (
    <main>
      <h1>Ferry settings</h1>
      <form onSubmit={(event) => void save(event)} noValidate>
        <Field
          name="brokerUrl"
          label="Broker URL"
          hint={`Where Ferry finds volunteers and exits (http:// or https://). Default ${DEFAULT_SETTINGS.brokerUrl}.`}
          {...props}
        />
        {PROXY_ME_AVAILABLE && (
          <>
            <Field name="exitId" label="Exit id" hint="Which exit Proxy me uses. Leave empty for the first one the broker lists." {...props} />
            <Field name="socksPort" label="SOCKS port" hint="The helper's local SOCKS5 port. 0 picks any free port." {...props} />
            <Field
              name="bypassList"
              label="Go direct for"
              hint="Hosts and address ranges (like 10.0.0.0/8) the browser reaches without Ferry, one per line. <local> means plain names without a dot."
              multiline
              {...props}
            />
          </>
        )}
        <Field name="maxClients" label="Most people at once" hint="How many people Help others relays for at the same time (1–32)." {...props} />
        <Field
          name="maxMbps"
          label="Bandwidth cap (Mbit/s)"
          hint={`Most Help others may use, for everyone it helps together, both ways. 0 means no cap; the lowest cap is ${MIN_MAX_MBPS}.`}
          {...props}
        />
        <Field
          name="monthlyCapGb"
          label="Monthly data cap (GB)"
          hint="Help others pauses for the rest of the month (UTC) once it has relayed this much, both ways together. 0 means no cap."
          {...props}
        />
        <Field
          name="exitListKeys"
          label="Exit-list keys"
          hint="The network operator's keys, one per line. Ferry uses only exits from a list signed by one of them, so a broker cannot slip in an exit of its own."
          multiline
          {...props}
        />
        <div class="actions">
          <button type="submit" id="save">
            Save
          </button>
          <button
            type="button"
            id="reset"
            onClick={() => {
              setForm(settingsToForm(DEFAULT_SETTINGS));
              setErrors({});
              setNotice('Defaults restored in the form; press Save to keep them.');
            }}
          >
            Restore defaults
          </button>
        </div>
        <p id="notice" role="status">
          {notice}
        </p>
      </form>
      <PairingLinks brokerUrl={form.brokerUrl} />
    </main>
  );
}

render(<Options />, document.getElementById('app') as HTMLElement);
