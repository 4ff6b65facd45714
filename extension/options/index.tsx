/**
 * @module options
 * The settings page. Every field is validated before anything is stored (settings.ts holds the rules and defaults).
 */
import { useEffect, useState } from 'preact/hooks';
import { MAX_PATHS_PER_SESSION } from '../../protocol/config.ts';
import { useTranslator } from '../../web/i18n-context.ts';
import { renderTranslated } from '../../web/render.tsx';
import { PROXY_ME_AVAILABLE } from '../browser-target.ts';
import { chromeTranslator } from '../i18n.ts';
import {
  DEFAULT_SETTINGS,
  MAX_MAX_CLIENTS,
  MIN_MAX_MBPS,
  parseSettingsForm,
  SETTINGS_KEYS,
  type SettingsError,
  type SettingsForm,
  type SettingsKey,
  settingsToForm,
} from '../settings.ts';
import '../ui.css';
import { NetworkChannels } from './network-channels.tsx';
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
  errors: Partial<Record<SettingsKey, SettingsError>>;
  multiline?: boolean;
  onInput: (key: SettingsKey, value: string) => void;
}

function Field({ name, label, hint, form, errors, multiline, onInput }: FieldProps) {
  const { t } = useTranslator();
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
        {error === undefined ? '' : t(error.messageKey, ...error.substitutions)}
      </p>
    </div>
  );
}

/** A setting that is on or off (SWITCH_SETTINGS): a checkbox whose form value is 'true' or 'false'. */
function Checkbox({ name, label, hint, form, onInput }: Omit<FieldProps, 'errors' | 'multiline'>) {
  return (
    <div class="field checkbox">
      <label for={name}>
        <input
          type="checkbox"
          id={name}
          name={name}
          checked={form[name] === 'true'}
          aria-describedby={`${name}-hint`}
          onChange={(event) => onInput(name, String(event.currentTarget.checked))}
        />{' '}
        {label}
      </label>
      <p id={`${name}-hint`} class="muted hint">
        {hint}
      </p>
    </div>
  );
}

function Options() {
  const { t } = useTranslator();
  const [form, setForm] = useState<SettingsForm | undefined>(undefined);
  const [errors, setErrors] = useState<Partial<Record<SettingsKey, SettingsError>>>({});
  const [notice, setNotice] = useState('');
  /** The keys in force (saved), which a pasted network configuration must be signed by: not what is being typed. */
  const [savedExitListKeys, setSavedExitListKeys] = useState<readonly string[]>(DEFAULT_SETTINGS.exitListKeys);

  useEffect(() => {
    void chrome.storage.local.get([...SETTINGS_KEYS]).then((stored) => {
      setForm(storedToForm(stored));
      const parsed = parseSettingsForm(storedToForm(stored));
      if (parsed.ok) setSavedExitListKeys(parsed.settings.exitListKeys);
    });
  }, []);

  if (form === undefined) return <p class="muted">{t('loading')}</p>;

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
      setNotice(t('noticeNothingSaved'));
      return;
    }
    setErrors({});
    await chrome.storage.local.set(result.settings);
    setForm(settingsToForm(result.settings));
    setSavedExitListKeys(result.settings.exitListKeys);
    setNotice(t('noticeSaved'));
  }

  const props = { form, errors, onInput };
  return (
    <main>
      <h1>{t('optionsTitle')}</h1>
      <form onSubmit={(event) => void save(event)} noValidate>
        <Field name="brokerUrl" label={t('fieldBrokerUrl')} hint={t('hintBrokerUrl', DEFAULT_SETTINGS.brokerUrl)} {...props} />
        {PROXY_ME_AVAILABLE && (
          <>
            <Field name="exitId" label={t('fieldExitId')} hint={t('hintExitId')} {...props} />
            <Field name="socksPort" label={t('fieldSocksPort')} hint={t('hintSocksPort')} {...props} />
            <Field name="bypassList" label={t('fieldBypassList')} hint={t('hintBypassList')} multiline {...props} />
            <Field name="proxyPaths" label={t('fieldProxyPaths')} hint={t('hintProxyPaths', 1, MAX_PATHS_PER_SESSION)} {...props} />
            <Checkbox name="stripePaths" label={t('fieldStripePaths')} hint={t('hintStripePaths')} form={form} onInput={onInput} />
          </>
        )}
        <Field name="maxClients" label={t('fieldMaxClients')} hint={t('hintMaxClients', 1, MAX_MAX_CLIENTS)} {...props} />
        <Field name="maxMbps" label={t('fieldMaxMbps')} hint={t('hintMaxMbps', MIN_MAX_MBPS)} {...props} />
        <Field name="monthlyCapGb" label={t('fieldMonthlyCapGb')} hint={t('hintMonthlyCapGb')} {...props} />
        <Checkbox name="pauseOnBattery" label={t('fieldPauseOnBattery')} hint={t('hintPauseOnBattery')} form={form} onInput={onInput} />
        <Checkbox name="pauseOnMetered" label={t('fieldPauseOnMetered')} hint={t('hintPauseOnMetered')} form={form} onInput={onInput} />
        <Field name="exitListKeys" label={t('fieldExitListKeys')} hint={t('hintExitListKeys')} multiline {...props} />
        <div class="actions">
          <button type="submit" id="save">
            {t('save')}
          </button>
          <button
            type="button"
            id="reset"
            onClick={() => {
              setForm(settingsToForm(DEFAULT_SETTINGS));
              setErrors({});
              setNotice(t('noticeDefaultsRestored'));
            }}
          >
            {t('restoreDefaults')}
          </button>
        </div>
        <p id="notice" role="status">
          {notice}
        </p>
      </form>
      {PROXY_ME_AVAILABLE && <NetworkChannels exitListKeys={savedExitListKeys} />}
      <PairingLinks brokerUrl={form.brokerUrl} />
    </main>
  );
}

renderTranslated(chromeTranslator(), <Options />, document.getElementById('app') as HTMLElement);
