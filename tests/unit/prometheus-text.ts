// Test helper: parses the Prometheus text exposition format (0.0.4) that /metrics of the broker and the exit serve,
// failing on anything malformed: a sample without a TYPE line before it, a bad label set, a value that is no number.
// prom-client renders this format but has no parser.

export interface Sample {
  /** The sample's own name: for a histogram, the family's name plus _bucket, _sum or _count. */
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/;

/** The families by name, in the order they appeared. Throws an Error naming the line for malformed text. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name = '', rest = ''] = meta;
      if (kind === 'HELP') helps.set(name, rest);
      else {
        if (!TYPES.has(rest)) throw new Error(`unknown TYPE in: ${line}`);
        if (families.has(name)) throw new Error(`${name} is described twice`);
        families.set(name, { name, help: helps.get(name) ?? '', type: rest as MetricFamily['type'], samples: [] });
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not a sample: ${line}`);
    const [, name = '', labelText = '', valueText = ''] = sample;
    const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
    if (!family) throw new Error(`${name} has no TYPE line before it`);
    // Prometheus reads values as Go's ParseFloat does: NaN and Inf in any case (prom-client writes "Nan").
    const special = /^([+-]?)inf$/i.exec(valueText);
    const value = special
      ? special[1] === '-'
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY
      : /^nan$/i.test(valueText)
        ? Number.NaN
        : Number(valueText);
    if (Number.isNaN(value) && !/^nan$/i.test(valueText)) throw new Error(`not a number: ${line}`);
    family.samples.push({ name, labels: parseLabels(labelText, line), value });
  }
  return families;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = LABEL.exec(rest);
    if (!match) throw new Error(`bad labels in: ${line}`);
    const [whole, key = '', value = ''] = match;
    labels[key] = value.replace(/\\(.)/g, (_all, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    rest = rest.slice(whole.length);
  }
  return labels;
}

/** The value of family `name`'s sample whose labels are exactly `labels`; undefined when there is none. */
export function sampleValue(families: ReadonlyMap<string, MetricFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const wanted = Object.entries(labels).sort();
  return families.get(name)?.samples.find((sample) => JSON.stringify(Object.entries(sample.labels).sort()) === JSON.stringify(wanted))?.value;
}
